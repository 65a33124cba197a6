//! An address as the registry keeps it — street, RT/RW, the village and district by their
//! codes in the region table, an optional postal code — and the place (province, regency,
//! district) where a resident or a household is counted. Checked the same way wherever an
//! address is given: a registration, a move, a family card.

use serde::{Deserialize, Serialize};

use crate::error::PopulationError;
use crate::ktp::NewResident;
use crate::regions::REGIONS;

/// Where a resident is counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub province: String,
    pub regency: String,
    pub district: String,
}

impl Place {
    pub(crate) fn of(district: &str) -> Place {
        Place {
            province: district[..2].to_owned(),
            regency: district[..4].to_owned(),
            district: district.to_owned(),
        }
    }
}

/// An address: where a resident lives, or a family card's address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub address: String,
    pub rt_rw: String,
    /// Village code, 10 digits, in `district`.
    pub village: String,
    pub district: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

impl Address {
    /// A resident's address.
    pub fn of(fields: &NewResident) -> Address {
        Address {
            address: fields.address.clone(),
            rt_rw: fields.rt_rw.clone(),
            village: fields.village.clone(),
            district: fields.district.clone(),
            postal_code: fields.postal_code.clone(),
        }
    }

    /// The address checked and trimmed as a registration's would be (each refused field named).
    pub fn checked(&self) -> Result<Address, PopulationError> {
        let mut errors = Vec::new();
        let district = self.district.trim();
        let village = self.village.trim();
        if let Err(error) = check_place(district, village) {
            errors.push(error);
        }
        let postal_code = match self.postal_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(code) if code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) => Some(code.to_owned()),
            Some(_) => {
                errors.push(PopulationError::invalid("postal_code", "must be 5 digits").id("harus 5 angka"));
                None
            }
        };
        let rt_rw = self.rt_rw.trim();
        if !rt_rw_ok(rt_rw) {
            errors.push(PopulationError::invalid("rt_rw", "must look like 001/002").id("harus seperti 001/002"));
        }
        let address = text("address", &self.address, 200).unwrap_or_else(|error| {
            errors.push(error);
            String::new()
        });
        match errors.len() {
            0 => Ok(Address {
                address,
                rt_rw: rt_rw.to_owned(),
                village: village.to_owned(),
                district: district.to_owned(),
                postal_code,
            }),
            1 => Err(errors.remove(0)),
            _ => Err(PopulationError::Fields(errors)),
        }
    }
}

fn rt_rw_ok(rt_rw: &str) -> bool {
    rt_rw.len() == 7 && rt_rw.as_bytes()[3] == b'/' && rt_rw.bytes().filter(u8::is_ascii_digit).count() == 6
}

/// A text field: trimmed, 1 to `max` characters, nothing invisible.
pub(crate) fn text(field: &'static str, value: &str, max: usize) -> Result<String, PopulationError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(
            PopulationError::invalid(field, format!("must be 1 to {max} characters"))
                .id(format!("harus 1 sampai {max} karakter")),
        );
    }
    if let Some(hidden) = warga_core::text::hidden_character(value) {
        return Err(PopulationError::invalid(
            field,
            format!(
                "must not contain invisible or control characters (U+{:04X})",
                u32::from(hidden)
            ),
        )
        .id(format!(
            "tidak boleh memuat karakter tak terlihat atau karakter kendali (U+{:04X})",
            u32::from(hidden)
        )));
    }
    Ok(value.to_owned())
}

/// An address's district and village: codes in the region table, the village in the district.
fn check_place(district: &str, village: &str) -> Result<(), PopulationError> {
    if REGIONS.district(district).is_none() {
        return Err(
            PopulationError::invalid("district", format!("no district has code {district}"))
                .id(format!("tidak ada kecamatan dengan kode {district}")),
        );
    }
    if REGIONS.village(village).is_none() {
        return Err(PopulationError::invalid(
            "village",
            format!("no village has code {village} (10 digits from the region table)"),
        )
        .id(format!(
            "tidak ada kelurahan/desa dengan kode {village} (10 angka dari tabel wilayah)"
        )));
    }
    if !village.starts_with(district) {
        return Err(
            PopulationError::invalid("village", format!("village {village} is not in district {district}"))
                .id(format!("kelurahan/desa {village} tidak berada di kecamatan {district}")),
        );
    }
    Ok(())
}
