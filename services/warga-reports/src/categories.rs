//! What citizens can report, and which department must act on each (R5).
//!
//! The departments are the seed's five authorities (the identity service's department ids);
//! the city's top office (`pemkot`) oversees all of them. Service levels follow
//! SP4N-LAPOR!: verified within 3 working days, answered within 5.

use serde::Serialize;

/// The city's top office: sees every department's reports.
pub const TOP_AUTHORITY: &str = "pemkot";

/// A kind of problem and the department responsible for it.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct Category {
    pub id: &'static str,
    /// Bahasa Indonesia.
    pub name: &'static str,
    pub name_en: &'static str,
    /// The identity service's department id.
    pub department: &'static str,
    /// Working days to verify (acknowledge) a report.
    pub response_days: u32,
    /// Working days to answer (resolve or reject) it.
    pub resolution_days: u32,
}

const fn category(id: &'static str, name: &'static str, name_en: &'static str, department: &'static str) -> Category {
    Category {
        id,
        name,
        name_en,
        department,
        response_days: 3,
        resolution_days: 5,
    }
}

pub const CATEGORIES: &[Category] = &[
    category(
        "jalan-rusak",
        "Jalan rusak atau berlubang",
        "Damaged road or pothole",
        "dinas-pu",
    ),
    category(
        "saluran-tersumbat",
        "Saluran air atau got tersumbat",
        "Blocked drain",
        "dinas-pu",
    ),
    category("jembatan", "Jembatan rusak", "Damaged bridge", "dinas-pu"),
    category(
        "sampah-liar",
        "Sampah liar atau pembuangan ilegal",
        "Illegal dumping",
        "dlh",
    ),
    category(
        "pohon-berbahaya",
        "Pohon tumbang atau berbahaya",
        "Fallen or dangerous tree",
        "dlh",
    ),
    category(
        "pencemaran",
        "Pencemaran air atau udara",
        "Water or air pollution",
        "dlh",
    ),
    category(
        "lampu-jalan",
        "Lampu jalan atau lampu lalu lintas mati",
        "Street or traffic light out",
        "dishub",
    ),
    category(
        "rambu",
        "Rambu atau marka jalan rusak",
        "Damaged road sign or marking",
        "dishub",
    ),
    category("parkir-liar", "Parkir liar", "Illegal parking", "dishub"),
    category(
        "pedagang-liar",
        "Pedagang kaki lima di trotoar",
        "Street vendors blocking the pavement",
        "satpol-pp",
    ),
    category("bangunan-liar", "Bangunan liar", "Unauthorised building", "satpol-pp"),
    category("bahaya-kebakaran", "Bahaya kebakaran", "Fire hazard", "damkar"),
];

/// The category with id `id`.
pub fn by_id(id: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.id == id)
}

/// The departments that act on reports: (identity service's id, name).
pub const DEPARTMENTS: &[(&str, &str)] = &[
    ("dinas-pu", "Dinas Pekerjaan Umum"),
    ("dlh", "Dinas Lingkungan Hidup"),
    ("dishub", "Dinas Perhubungan"),
    ("satpol-pp", "Satuan Polisi Pamong Praja"),
    ("damkar", "Dinas Pemadam Kebakaran"),
];

/// Whether `department` is responsible for any category.
pub fn is_department(department: &str) -> bool {
    DEPARTMENTS.iter().any(|(id, _)| *id == department)
}

/// A department's name (its id when it is not one of [`DEPARTMENTS`]).
pub fn department_name(id: &str) -> &str {
    DEPARTMENTS.iter().find(|(d, _)| *d == id).map_or(id, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_a_unique_id_and_a_department() {
        for (i, c) in CATEGORIES.iter().enumerate() {
            assert!(CATEGORIES[..i].iter().all(|o| o.id != c.id), "{} twice", c.id);
            assert!(!c.department.is_empty() && c.department != TOP_AUTHORITY);
            assert!(is_department(c.department), "{} has no name", c.department);
        }
        assert_eq!(by_id("jalan-rusak").map(|c| c.department), Some("dinas-pu"));
        assert!(by_id("nope").is_none());
    }
}
