//! Indonesia's administrative regions (38 provinces, their regencies and cities, and their
//! districts), shipped with warga as data (see `data/regions/SOURCE.md`) and loaded once.
//! Pure: no IO beyond parsing the tables compiled into the binary.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Region {
    /// 2 digits (province), 4 (regency or city), or 6 (district).
    pub code: String,
    pub name: String,
}

/// The region table, keyed by code.
#[derive(Debug, Default)]
pub struct Regions {
    provinces: BTreeMap<String, String>,
    regencies: BTreeMap<String, String>,
    districts: BTreeMap<String, String>,
}

fn parse(csv: &str, digits: usize, table: &mut BTreeMap<String, String>) -> Result<(), String> {
    for (number, line) in csv.lines().enumerate().skip(1) {
        let (code, name) = line
            .split_once(',')
            .ok_or_else(|| format!("line {}: no comma", number + 1))?;
        if code.len() != digits || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("line {}: code {code:?} is not {digits} digits", number + 1));
        }
        let name = name.trim_matches('"').replace("\"\"", "\"");
        if table.insert(code.to_owned(), name).is_some() {
            return Err(format!("line {}: code {code} twice", number + 1));
        }
    }
    Ok(())
}

impl Regions {
    /// Parses the three tables, checking that every code belongs to its parent.
    pub fn from_csv(provinces: &str, regencies: &str, districts: &str) -> Result<Regions, String> {
        let mut regions = Regions::default();
        parse(provinces, 2, &mut regions.provinces).map_err(|e| format!("provinces: {e}"))?;
        parse(regencies, 4, &mut regions.regencies).map_err(|e| format!("regencies: {e}"))?;
        parse(districts, 6, &mut regions.districts).map_err(|e| format!("districts: {e}"))?;
        if let Some(orphan) = regions
            .regencies
            .keys()
            .find(|c| !regions.provinces.contains_key(&c[..2]))
        {
            return Err(format!("regency {orphan} has no province"));
        }
        if let Some(orphan) = regions
            .districts
            .keys()
            .find(|c| !regions.regencies.contains_key(&c[..4]))
        {
            return Err(format!("district {orphan} has no regency"));
        }
        Ok(regions)
    }

    pub fn province(&self, code: &str) -> Option<&str> {
        self.provinces.get(code).map(String::as_str)
    }
    pub fn regency(&self, code: &str) -> Option<&str> {
        self.regencies.get(code).map(String::as_str)
    }
    pub fn district(&self, code: &str) -> Option<&str> {
        self.districts.get(code).map(String::as_str)
    }

    fn children(table: &BTreeMap<String, String>, prefix: &str) -> Vec<Region> {
        table
            .range(prefix.to_owned()..)
            .take_while(|(code, _)| code.starts_with(prefix))
            .map(|(code, name)| Region {
                code: code.clone(),
                name: name.clone(),
            })
            .collect()
    }

    pub fn provinces(&self) -> Vec<Region> {
        Self::children(&self.provinces, "")
    }
    /// The regencies and cities of a province.
    pub fn regencies_of(&self, province: &str) -> Vec<Region> {
        if province.len() != 2 {
            Vec::new()
        } else {
            Self::children(&self.regencies, province)
        }
    }
    /// The districts of a regency or city.
    pub fn districts_of(&self, regency: &str) -> Vec<Region> {
        if regency.len() != 4 {
            Vec::new()
        } else {
            Self::children(&self.districts, regency)
        }
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        (self.provinces.len(), self.regencies.len(), self.districts.len())
    }
}

/// The table shipped with warga.
#[allow(
    clippy::panic,
    reason = "the shipped tables are compiled in and checked by a test; a broken build must not start"
)]
pub static REGIONS: LazyLock<Regions> = LazyLock::new(|| {
    Regions::from_csv(
        include_str!("../data/regions/provinces.csv"),
        include_str!("../data/regions/regencies.csv"),
        include_str!("../data/regions/districts.csv"),
    )
    .unwrap_or_else(|error| panic!("the shipped region table is invalid: {error}"))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_is_complete() {
        assert_eq!(REGIONS.counts(), (38, 514, 7285));
        assert_eq!(REGIONS.province("31"), Some("Daerah Khusus Ibukota Jakarta"));
        assert_eq!(REGIONS.regency("3174"), Some("Kota Administrasi Jakarta Selatan"));
        assert_eq!(REGIONS.district("317107"), Some("Tanah Abang"));
        assert_eq!(REGIONS.regencies_of("31").len(), 6, "five cities and Kepulauan Seribu");
        assert!(REGIONS.districts_of("3174").iter().any(|d| d.name == "Kebayoran Baru"));
        assert!(REGIONS.regencies_of("3").is_empty() && REGIONS.districts_of("317").is_empty());
    }

    #[test]
    fn broken_tables_are_refused() {
        let provinces = "code,name\n11,Aceh\n";
        assert!(
            Regions::from_csv(provinces, "code,name\n1201,X\n", "code,name\n")
                .unwrap_err()
                .contains("no province")
        );
        assert!(
            Regions::from_csv(provinces, "code,name\n1101,X\n", "code,name\n110201,Y\n")
                .unwrap_err()
                .contains("no regency")
        );
        assert!(
            Regions::from_csv("code,name\n1,Aceh\n", "code,name\n", "code,name\n")
                .unwrap_err()
                .contains("2 digits")
        );
        assert!(
            Regions::from_csv("code,name\n11,A\n11,B\n", "code,name\n", "code,name\n")
                .unwrap_err()
                .contains("twice")
        );
    }
}
