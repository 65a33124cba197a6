//! The fields of a KTP (Kartu Tanda Penduduk) as a resident is registered with them — sealed
//! together at rest, read back by the registry and by name search.

use serde::{Deserialize, Serialize};

use crate::nik::Sex;

/// The KTP fields of a new resident.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResident {
    pub nik: String,
    pub full_name: String,
    pub birth_place: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub sex: Sex,
    pub address: String,
    /// `001/002`.
    pub rt_rw: String,
    /// Village (desa or kelurahan) code, 10 digits, from the region table, in `district`.
    /// (Records registered before villages were coded hold its name.)
    pub village: String,
    /// District code, 6 digits.
    pub district: String,
    /// Five digits, optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    pub religion: String,
    pub marital_status: String,
    pub occupation: String,
}
