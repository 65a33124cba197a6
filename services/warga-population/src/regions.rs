//! Indonesia's administrative regions (38 provinces, their regencies and cities, their
//! districts, and the villages — desa and kelurahan — of each district), shipped with warga as data (see `data/regions/SOURCE.md`) and loaded once,
//! with the former codes a NIK may still carry after a split or renumbering and their
//! successors. Pure: no IO beyond parsing the tables compiled into the binary.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Region {
    /// 2 digits (province), 4 (regency or city), 6 (district) or 10 (village).
    pub code: String,
    pub name: String,
}

/// A regency or district code no longer in use: what it was, and the code that replaced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Former {
    pub name: String,
    /// Today's code (same length) in the table.
    pub successor: String,
    /// The year of the change.
    pub year: u16,
    /// The law that made it, e.g. `UU 16/2022 (Papua Pegunungan)`.
    pub basis: String,
}

/// The region table, keyed by code.
#[derive(Debug, Default)]
pub struct Regions {
    provinces: BTreeMap<String, String>,
    regencies: BTreeMap<String, String>,
    districts: BTreeMap<String, String>,
    villages: BTreeMap<String, String>,
    former: BTreeMap<String, Former>,
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

    /// Adds the villages (10 digits: district + 4), checking that each belongs to a district.
    pub fn with_villages(mut self, csv: &str) -> Result<Regions, String> {
        parse(csv, 10, &mut self.villages).map_err(|e| format!("villages: {e}"))?;
        if let Some(orphan) = self.villages.keys().find(|c| !self.districts.contains_key(&c[..6])) {
            return Err(format!("village {orphan} has no district"));
        }
        Ok(self)
    }

    /// Adds the former codes (`code,name,successor,year,basis`), checking that each is not
    /// a code in use, that its successor is, and that a former district's regency is either
    /// in use or former itself.
    pub fn with_former(mut self, csv: &str) -> Result<Regions, String> {
        for (number, line) in csv.lines().enumerate().skip(1) {
            let at = |what: &str| format!("former line {}: {what}", number + 1);
            let fields: Vec<&str> = line.splitn(5, ',').collect();
            let [code, name, successor, year, basis] = fields[..] else {
                return Err(at("not 5 fields"));
            };
            let in_use = |code: &str| match code.len() {
                4 => self.regencies.contains_key(code),
                6 => self.districts.contains_key(code),
                _ => false,
            };
            if in_use(code) || successor.len() != code.len() || !in_use(successor) {
                return Err(at(&format!(
                    "{code} -> {successor} is not a former code and its successor"
                )));
            }
            if code.len() == 6 && !in_use(&code[..4]) && !self.former.contains_key(&code[..4]) {
                return Err(at(&format!("district {code} has no regency")));
            }
            let former = Former {
                name: name.trim_matches('"').to_owned(),
                successor: successor.to_owned(),
                year: year.parse().map_err(|_| at("year"))?,
                basis: basis.trim_matches('"').to_owned(),
            };
            if self.former.insert(code.to_owned(), former).is_some() {
                return Err(at(&format!("code {code} twice")));
            }
        }
        Ok(self)
    }

    /// A former regency or district code.
    pub fn former(&self, code: &str) -> Option<&Former> {
        self.former.get(code)
    }

    /// Whether the table lists the districts of `regency` (in use, or former with its
    /// districts listed). The former regencies of Kalimantan Utara are listed without theirs.
    pub fn knows_districts_of(&self, regency: &str) -> bool {
        self.regencies.contains_key(regency)
            || self
                .former
                .range(format!("{regency}00")..)
                .next()
                .is_some_and(|(code, _)| code.len() == 6 && code.starts_with(regency))
    }

    /// "District, Regency, Province" for a code of any level, in use or former; former
    /// parts by their former names. Unknown parts are left out.
    pub fn place_name(&self, code: &str) -> String {
        let name = |code: Option<&str>| -> Option<&str> {
            let code = code?;
            match code.len() {
                2 => self.province(code),
                4 => self.regency(code),
                _ => self.district(code),
            }
            .or_else(|| self.former(code).map(|f| f.name.as_str()))
        };
        [code.get(..6), code.get(..4), code.get(..2)]
            .into_iter()
            .filter_map(name)
            .collect::<Vec<_>>()
            .join(", ")
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
    pub fn village(&self, code: &str) -> Option<&str> {
        self.villages.get(code).map(String::as_str)
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

    /// The villages (desa and kelurahan) of a district.
    pub fn villages_of(&self, district: &str) -> Vec<Region> {
        if district.len() != 6 {
            Vec::new()
        } else {
            Self::children(&self.villages, district)
        }
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        (self.provinces.len(), self.regencies.len(), self.districts.len())
    }
    pub fn village_count(&self) -> usize {
        self.villages.len()
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
    .and_then(|regions| regions.with_villages(include_str!("../data/regions/villages.csv")))
    .and_then(|regions| regions.with_former(include_str!("../data/regions/former.csv")))
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
        assert_eq!(REGIONS.village_count(), 83_762);
        assert_eq!(REGIONS.village("3171071006"), Some("Kebon Kacang"));
        assert_eq!(REGIONS.village("3513152017"), Some("Soka\"an"), "quotes in names");
        assert!(
            REGIONS
                .villages_of("317107")
                .iter()
                .all(|v| v.code.starts_with("317107"))
        );
        assert_eq!(REGIONS.villages_of("317107").len(), 7, "Tanah Abang's seven kelurahan");
        assert!(REGIONS.villages_of("31710").is_empty());
    }

    #[test]
    fn former_codes_lead_to_their_successors() {
        let merauke = REGIONS.former("9101").unwrap();
        assert_eq!((merauke.successor.as_str(), merauke.year), ("9301", 2022));
        assert!(merauke.basis.starts_with("UU 14/2022"));
        // Districts are matched by name: Jayawijaya's were renumbered in Papua Pegunungan.
        let kurulu = REGIONS.former("910203").unwrap();
        assert_eq!(REGIONS.district(&kurulu.successor), Some("Kurulu"));
        assert_eq!(kurulu.successor, "950102");
        assert_eq!(
            REGIONS.former("911336").unwrap().successor,
            "950334",
            "Holuon is Holuwon"
        );
        assert_eq!(REGIONS.former("6404").unwrap().successor, "6501", "Bulungan, 2012");
        assert!(REGIONS.former("3171").is_none() && REGIONS.former("317107").is_none());
        assert!(REGIONS.knows_districts_of("9102") && REGIONS.knows_districts_of("3171"));
        assert!(
            !REGIONS.knows_districts_of("6404"),
            "Kaltara's former districts are not listed"
        );
        assert!(!REGIONS.knows_districts_of("9199"));
        assert_eq!(REGIONS.place_name("910201"), "Wamena, Kabupaten Jayawijaya, Papua");
        assert_eq!(REGIONS.place_name("640401"), "Kabupaten Bulungan, Kalimantan Timur");
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
        let villages = |csv: &str| {
            Regions::from_csv(provinces, "code,name\n1101,X\n", "code,name\n110101,Y\n")
                .unwrap()
                .with_villages(csv)
        };
        assert!(villages("code,name\n1101012001,V\n").is_ok());
        assert!(
            villages("code,name\n1101022001,V\n")
                .unwrap_err()
                .contains("no district")
        );
        assert!(villages("code,name\n110101200,V\n").unwrap_err().contains("10 digits"));
        let table = || Regions::from_csv(provinces, "code,name\n1101,X\n", "code,name\n110101,Y\n").unwrap();
        let header = "code,name,successor,year,basis\n";
        for (former, why) in [
            ("1101,X,1101,2000,UU", "a code in use"),
            ("1102,X,1199,2000,UU", "successor not in use"),
            ("110201,X,110101,2000,UU", "no regency"),
            ("1102,X,1101,soon,UU", "year"),
            ("1102,X,1101", "fields"),
        ] {
            assert!(table().with_former(&format!("{header}{former}\n")).is_err(), "{why}");
        }
        let ok = table()
            .with_former(&format!("{header}1102,X,1101,2000,UU\n110201,Z,110101,2000,UU\n"))
            .unwrap();
        assert_eq!(ok.former("110201").unwrap().successor, "110101");
    }
}
