//! Sections a service registers: `[population]` belongs to the population service,
//! `[ledger]`, `[orderer]` and `[peer]` to the ledger. The service defines the type and its
//! checks; this crate loads it from the same layers (defaults → file → `WARGA_…`), reports
//! its errors the same way (the dotted key and where the value came from), refuses keys no
//! section knows, and prints it redacted with the rest.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;

use figment::Figment;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ConfigError;

/// A service's own top-level section.
pub trait Section: Serialize + DeserializeOwned + Default + Clone + fmt::Debug + Send + Sync + 'static {
    /// Its key at the top of the file (and after `WARGA_` in variables), e.g. `population`.
    const KEY: &'static str;

    /// Checks what types alone cannot; an error names the dotted key.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// The sections a program knows, registered by the services it runs.
#[derive(Clone, Default)]
pub struct Sections {
    entries: Vec<Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    key: &'static str,
    load: fn(&Figment) -> Result<Box<dyn Value>, ConfigError>,
}

impl Sections {
    pub fn new() -> Sections {
        Sections::default()
    }

    /// Registers `S` (once; a second registration of the same key is ignored).
    pub fn with<S: Section>(mut self) -> Sections {
        if !self.entries.iter().any(|e| e.key == S::KEY) {
            self.entries.push(Entry {
                key: S::KEY,
                load: load::<S>,
            });
        }
        self
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.key)
    }

    /// Each registered section from `figment` (its default where nothing sets it), checked.
    pub(crate) fn load(&self, figment: &Figment) -> Result<Values, ConfigError> {
        let mut values = Values::default();
        for entry in &self.entries {
            values.0.insert(entry.key, (entry.load)(figment)?);
        }
        Ok(values)
    }
}

fn load<S: Section>(figment: &Figment) -> Result<Box<dyn Value>, ConfigError> {
    let section: S = if figment.find_value(S::KEY).is_ok() {
        figment.focus(S::KEY).extract().map_err(|mut error| {
            // The error's path is inside the section: name the whole dotted key.
            error.path.insert(0, S::KEY.to_owned());
            crate::figment_error(error)
        })?
    } else {
        S::default()
    };
    section.validate()?;
    Ok(Box::new(section))
}

/// A loaded section, whatever its type.
pub(crate) trait Value: Any + Send + Sync + fmt::Debug {
    fn clone_box(&self) -> Box<dyn Value>;
    fn to_toml(&self) -> Option<toml::Value>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<S: Section> Value for S {
    fn clone_box(&self) -> Box<dyn Value> {
        Box::new(self.clone())
    }
    fn to_toml(&self) -> Option<toml::Value> {
        toml::Value::try_from(self).ok()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The loaded sections of one configuration, by key.
#[derive(Default)]
pub(crate) struct Values(pub(crate) BTreeMap<&'static str, Box<dyn Value>>);

impl Clone for Values {
    fn clone(&self) -> Values {
        Values(self.0.iter().map(|(k, v)| (*k, v.clone_box())).collect())
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl Values {
    pub(crate) fn get<S: Section>(&self) -> Option<&S> {
        self.0.get(S::KEY).and_then(|v| v.as_any().downcast_ref::<S>())
    }

    pub(crate) fn get_mut<S: Section>(&mut self) -> &mut S {
        let slot = self.0.entry(S::KEY).or_insert_with(|| Box::new(S::default()));
        if !slot.as_any().is::<S>() {
            *slot = Box::new(S::default());
        }
        match slot.as_any_mut().downcast_mut::<S>() {
            Some(section) => section,
            None => unreachable!("the slot was just given an S"),
        }
    }
}
