//! The NIK (Nomor Induk Kependudukan): parsing and validation, as a pure function.
//!
//! Sixteen digits: `PP RR DD ddmmyy SSSS` — province, regency or city, and district codes
//! (which must exist in the region table), the birth date as `ddmmyy` where women add 40 to
//! the day, and a serial number (never 0000). The century is not in the number: it is
//! resolved against the registered birth date, with which the NIK must agree, as with the
//! registered sex. Every failure has its own problem type and names the field at fault.
//!
//! A NIK is for life: it keeps the region codes in force when it was issued, also after the
//! region was split or renumbered (Kalimantan Utara in 2012, the Papua provinces in 2022).
//! Such a NIK is accepted by the former codes in the region table, and says where that
//! region is today.

use serde::{Deserialize, Serialize};

use crate::regions::Regions;

pub const NIK_DIGITS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(Date {
            year,
            month,
            day,
        })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse_iso(text: &str) -> Option<Date> {
        let mut parts = text.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }
}

/// What a NIK says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Nik {
    pub province: String,
    pub regency: String,
    pub district: String,
    pub birth_day: u32,
    pub birth_month: u32,
    /// The last two digits of the birth year.
    pub birth_year_2: u32,
    pub sex: Sex,
    pub serial: u32,
    /// Where the NIK was issued, by the names its codes had: "District, Regency, Province".
    pub issued_in: String,
    /// Present when the NIK carries codes that were later replaced: the region today.
    pub current: Option<CurrentRegion>,
}

/// Where a NIK was issued and, when its codes were later replaced, where that is today: what a
/// resident's record shows beside the address (the NIK's region is where the number was
/// issued, not where the person lives).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NikRegion {
    pub issued_in: String,
    pub current: Option<CurrentRegion>,
}

impl NikRegion {
    /// The region of a registered NIK (validated when it was registered).
    pub fn of(nik: &str, regions: &Regions) -> NikRegion {
        match parse(nik, regions) {
            Ok(parsed) => NikRegion {
                issued_in: parsed.issued_in,
                current: parsed.current,
            },
            Err(_) => NikRegion {
                issued_in: regions.place_name(nik.get(..6).unwrap_or_default()),
                current: None,
            },
        }
    }
}

/// Where a region a NIK names by former codes is today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CurrentRegion {
    pub province: String,
    pub regency: String,
    /// Absent when the NIK's district digits are not in the shipped tables (the former
    /// regencies of Kalimantan Timur that became Kalimantan Utara).
    pub district: Option<String>,
    /// "District, Regency, Province" under today's codes.
    pub place: String,
    /// The year of the change and the law that made it.
    pub since: u16,
    pub basis: String,
}

/// Why a NIK is refused. [`NikError::problem`] is the problem type's last segment,
/// [`NikError::field`] the request field to name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NikError {
    #[error("a NIK is 16 digits")]
    Format,
    #[error("no province has code {0}")]
    UnknownProvince(String),
    #[error("no regency or city has code {0}")]
    UnknownRegency(String),
    #[error("no district has code {0}")]
    UnknownDistrict(String),
    #[error("digits 7-12 are not a birth date (ddmmyy, day + 40 for women)")]
    BirthDate,
    #[error("the serial number (last four digits) cannot be 0000")]
    Serial,
    #[error("the NIK's birth date {nik} differs from the registered birth date")]
    BirthDateMismatch { nik: String },
    #[error("the NIK says {nik:?}, the registration says {registered:?}")]
    SexMismatch { nik: Sex, registered: Sex },
}

impl NikError {
    pub fn problem(&self) -> &'static str {
        match self {
            NikError::Format => "nik-format",
            NikError::UnknownProvince(_) => "nik-province",
            NikError::UnknownRegency(_) => "nik-regency",
            NikError::UnknownDistrict(_) => "nik-district",
            NikError::BirthDate => "nik-birth-date",
            NikError::Serial => "nik-serial",
            NikError::BirthDateMismatch { .. } => "nik-birth-date-mismatch",
            NikError::SexMismatch { .. } => "nik-sex-mismatch",
        }
    }

    /// A short title for the problem document.
    pub fn title(&self) -> &'static str {
        match self {
            NikError::Format => "A NIK is 16 digits",
            NikError::UnknownProvince(_) => "Unknown province code in the NIK",
            NikError::UnknownRegency(_) => "Unknown regency or city code in the NIK",
            NikError::UnknownDistrict(_) => "Unknown district code in the NIK",
            NikError::BirthDate => "The NIK holds no valid birth date",
            NikError::Serial => "The NIK's serial number is 0000",
            NikError::BirthDateMismatch { .. } => "The NIK disagrees with the birth date",
            NikError::SexMismatch { .. } => "The NIK disagrees with the sex",
        }
    }

    /// The title in Bahasa Indonesia.
    pub fn title_id(&self) -> &'static str {
        match self {
            NikError::Format => "NIK terdiri atas 16 angka",
            NikError::UnknownProvince(_) => "Kode provinsi dalam NIK tidak dikenal",
            NikError::UnknownRegency(_) => "Kode kabupaten/kota dalam NIK tidak dikenal",
            NikError::UnknownDistrict(_) => "Kode kecamatan dalam NIK tidak dikenal",
            NikError::BirthDate => "NIK tidak memuat tanggal lahir yang sah",
            NikError::Serial => "Nomor urut NIK tidak boleh 0000",
            NikError::BirthDateMismatch { .. } => "NIK tidak cocok dengan tanggal lahir",
            NikError::SexMismatch { .. } => "NIK tidak cocok dengan jenis kelamin",
        }
    }

    /// The detail in Bahasa Indonesia.
    pub fn detail_id(&self) -> String {
        let sex = |sex: &Sex| match sex {
            Sex::Male => "laki-laki",
            Sex::Female => "perempuan",
        };
        match self {
            NikError::Format => "NIK terdiri atas 16 angka".into(),
            NikError::UnknownProvince(code) => format!("tidak ada provinsi dengan kode {code}"),
            NikError::UnknownRegency(code) => format!("tidak ada kabupaten/kota dengan kode {code}"),
            NikError::UnknownDistrict(code) => format!("tidak ada kecamatan dengan kode {code}"),
            NikError::BirthDate => {
                "angka ke-7 sampai ke-12 bukan tanggal lahir (hhbbtt, tanggal ditambah 40 untuk perempuan)".into()
            }
            NikError::Serial => "nomor urut (empat angka terakhir) tidak boleh 0000".into(),
            NikError::BirthDateMismatch { nik } => {
                format!("tanggal lahir dalam NIK ({nik}) berbeda dengan tanggal lahir yang didaftarkan")
            }
            NikError::SexMismatch { nik, registered } => format!(
                "NIK menyatakan {}, pendaftaran menyatakan {}",
                sex(nik),
                sex(registered)
            ),
        }
    }

    pub fn field(&self) -> &'static str {
        match self {
            NikError::BirthDateMismatch { .. } => "birth_date",
            NikError::SexMismatch { .. } => "sex",
            _ => "nik",
        }
    }
}

fn two_digits(bytes: &[u8]) -> u32 {
    u32::from(bytes[0] - b'0') * 10 + u32::from(bytes[1] - b'0')
}

/// Parses and checks a NIK on its own: format, region codes, a possible birth date, serial.
pub fn parse(nik: &str, regions: &Regions) -> Result<Nik, NikError> {
    let bytes = nik.as_bytes();
    if bytes.len() != NIK_DIGITS || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(NikError::Format);
    }
    let province = &nik[..2];
    let regency = &nik[..4];
    let district = &nik[..6];
    if regions.province(province).is_none() {
        return Err(NikError::UnknownProvince(province.to_owned()));
    }
    let current = current_region(regions, regency, district)?;
    let coded_day = two_digits(&bytes[6..8]);
    let month = two_digits(&bytes[8..10]);
    let year_2 = two_digits(&bytes[10..12]);
    let (day, sex) = match coded_day {
        1..=31 => (coded_day, Sex::Male),
        41..=71 => (coded_day - 40, Sex::Female),
        _ => return Err(NikError::BirthDate),
    };
    // Without the century the year is 19yy or 20yy: accept the date if either exists.
    let possible = [1900, 2000]
        .iter()
        .any(|century| Date::new(century + year_2 as i32, month, day).is_some());
    if !possible {
        return Err(NikError::BirthDate);
    }
    let serial: u32 = nik[12..].parse().map_err(|_| NikError::Format)?;
    if serial == 0 {
        return Err(NikError::Serial);
    }
    Ok(Nik {
        province: province.to_owned(),
        regency: regency.to_owned(),
        district: district.to_owned(),
        birth_day: day,
        birth_month: month,
        birth_year_2: year_2,
        sex,
        serial,
        issued_in: regions.place_name(district),
        current,
    })
}

/// `None` when the NIK's regency and district codes are in use; today's region when they are
/// former codes; an error when they are neither.
pub(crate) fn current_region(
    regions: &Regions,
    regency: &str,
    district: &str,
) -> Result<Option<CurrentRegion>, NikError> {
    let regency_in_use = regions.regency(regency).is_some();
    let former_regency = regions.former(regency);
    if !regency_in_use && former_regency.is_none() {
        return Err(NikError::UnknownRegency(regency.to_owned()));
    }
    if regions.district(district).is_some() {
        return Ok(None);
    }
    let (former, district_now) = match (regions.former(district), former_regency) {
        (Some(former), _) => (former, Some(former.successor.clone())),
        // A former regency whose former districts are not listed: the digits cannot be checked.
        (None, Some(former)) if !regions.knows_districts_of(regency) => (former, None),
        _ => return Err(NikError::UnknownDistrict(district.to_owned())),
    };
    let regency_now = district_now
        .as_deref()
        .map_or(former.successor.as_str(), |d| &d[..4])
        .to_owned();
    Ok(Some(CurrentRegion {
        province: regency_now[..2].to_owned(),
        place: regions.place_name(district_now.as_deref().unwrap_or(&regency_now)),
        regency: regency_now,
        district: district_now,
        since: former.year,
        basis: former.basis.clone(),
    }))
}

/// Parses `nik` and checks it against the registered birth date and sex.
pub fn validate(nik: &str, regions: &Regions, birth_date: Date, sex: Sex) -> Result<Nik, NikError> {
    let parsed = parse(nik, regions)?;
    let agrees = parsed.birth_day == birth_date.day
        && parsed.birth_month == birth_date.month
        && parsed.birth_year_2 == birth_date.year.rem_euclid(100) as u32;
    if !agrees {
        return Err(NikError::BirthDateMismatch {
            nik: format!(
                "{:02}-{:02}-..{:02}",
                parsed.birth_day, parsed.birth_month, parsed.birth_year_2
            ),
        });
    }
    if parsed.sex != sex {
        return Err(NikError::SexMismatch {
            nik: parsed.sex,
            registered: sex,
        });
    }
    Ok(parsed)
}

/// The properties every outcome of [`parse`] and [`validate`] has, on arbitrary input: the
/// body of the `nik` fuzz target (`fuzz/`) and of a test over a pseudo-random corpus.
/// Panics when one does not hold. The input is read as a NIK; its last bytes, when there
/// are more than 16, also give a birth date and sex to validate against. Returns whether
/// the NIK was accepted.
pub fn check_invariants(data: &[u8]) -> bool {
    let regions = &*crate::regions::REGIONS;
    let (nik_bytes, extra) = data.split_at(data.len().min(16));
    let text = String::from_utf8_lossy(nik_bytes);
    let other = |sex: Sex| match sex {
        Sex::Male => Sex::Female,
        Sex::Female => Sex::Male,
    };
    let asked = match extra {
        [y1, y2, m, d, s, ..] => Date::new(
            1880 + i32::from(u16::from_le_bytes([*y1, *y2]) % 200),
            u32::from(*m % 13),
            u32::from(*d % 32),
        )
        .map(|date| (date, if *s % 2 == 0 { Sex::Male } else { Sex::Female })),
        _ => None,
    };
    match parse(&text, regions) {
        Ok(nik) => {
            assert!(text.len() == NIK_DIGITS && text.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(&text[..6], nik.district);
            assert!(nik.district.starts_with(&nik.regency) && nik.regency.starts_with(&nik.province));
            match &nik.current {
                None => assert!(regions.district(&nik.district).is_some()),
                Some(now) => {
                    assert!(regions.district(&nik.district).is_none(), "a code in use is not former");
                    assert!(regions.regency(&now.regency).is_some() && now.regency.starts_with(&now.province));
                    match &now.district {
                        Some(district) => {
                            assert!(regions.district(district).is_some() && district.starts_with(&now.regency));
                            assert_eq!(regions.former(&nik.district).map(|f| &f.successor), Some(district));
                        }
                        None => assert!(!regions.knows_districts_of(&nik.regency)),
                    }
                }
            }
            assert!((1..=9999).contains(&nik.serial));
            let coded_day: u32 = text[6..8].parse().unwrap_or(0);
            let offset = if nik.sex == Sex::Female { 40 } else { 0 };
            assert_eq!(coded_day, nik.birth_day + offset);
            let mut some_date = false;
            for century in [1900, 2000] {
                if let Some(date) = Date::new(century + nik.birth_year_2 as i32, nik.birth_month, nik.birth_day) {
                    some_date = true;
                    assert_eq!(validate(&text, regions, date, nik.sex).as_ref(), Ok(&nik));
                    assert!(matches!(
                        validate(&text, regions, date, other(nik.sex)),
                        Err(NikError::SexMismatch { .. })
                    ));
                }
            }
            assert!(some_date, "an accepted NIK has a real birth date");
            if let Some((date, sex)) = asked
                && let Ok(valid) = validate(&text, regions, date, sex)
            {
                assert_eq!(valid, nik);
                assert_eq!((date.day, date.month, sex), (nik.birth_day, nik.birth_month, nik.sex));
            }
            true
        }
        Err(error) => {
            assert!(error.problem().starts_with("nik-") && !error.to_string().is_empty());
            if let Some((date, sex)) = asked {
                assert_eq!(
                    validate(&text, regions, date, sex),
                    Err(error),
                    "validate refuses what parse refuses"
                );
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regions::REGIONS;

    #[test]
    fn invariants_hold_on_random_input() {
        // xorshift64*: a fixed corpus, the same on every run.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let districts: Vec<String> = REGIONS
            .provinces()
            .iter()
            .flat_map(|p| REGIONS.regencies_of(&p.code))
            .flat_map(|r| REGIONS.districts_of(&r.code))
            .map(|d| d.code)
            // Former districts and regencies too (a Kalimantan Utara regency from before 2012).
            .chain(["910201", "911336", "640401", "647399"].map(String::from))
            .collect();
        let mut accepted = 0;
        for round in 0..60_000 {
            let mut data = Vec::new();
            if round % 3 == 0 {
                // Arbitrary bytes.
                let len = next() % 24;
                data.extend((0..len).map(|_| next() as u8));
            } else {
                // A real district and random digits: reaches the date and serial rules.
                data.extend(districts[(next() % districts.len() as u64) as usize].bytes());
                data.extend((0..10).map(|_| b'0' + (next() % 10) as u8));
                if round % 3 == 1 {
                    // Keep the day and month plausible so most are accepted.
                    data[6] = b'0' + (next() % 7) as u8;
                    data[8] = b'0' + (next() % 2) as u8;
                }
                data.extend((0..5).map(|_| next() as u8));
            }
            accepted += usize::from(check_invariants(&data));
        }
        assert!(accepted > 10_000, "the corpus reaches accepted NIKs too ({accepted})");
    }

    fn date(text: &str) -> Date {
        Date::parse_iso(text).unwrap()
    }

    #[test]
    fn valid_niks_parse_into_their_parts() {
        // Tanah Abang, Jakarta Pusat (317107); a man born 12 March 1995.
        let nik = parse("3171071203950004", &REGIONS).unwrap();
        assert_eq!(
            (nik.province.as_str(), nik.regency.as_str(), nik.district.as_str()),
            ("31", "3171", "317107")
        );
        assert_eq!(
            (nik.birth_day, nik.birth_month, nik.birth_year_2, nik.sex, nik.serial),
            (12, 3, 95, Sex::Male, 4)
        );
        // The same date for a woman: day + 40.
        assert_eq!(parse("3171075203950004", &REGIONS).unwrap().sex, Sex::Female);
    }

    #[test]
    fn niks_issued_before_a_split_are_accepted_with_todays_region() {
        // Province level: Merauke was in Papua (91) until Papua Selatan (93) in 2022.
        let merauke = parse("9101011203950004", &REGIONS).unwrap();
        assert_eq!((merauke.province.as_str(), merauke.regency.as_str()), ("91", "9101"));
        let now = merauke.current.unwrap();
        assert_eq!((now.province.as_str(), now.regency.as_str()), ("93", "9301"));
        assert_eq!(now.district.as_deref(), Some("930101"));
        assert_eq!(now.since, 2022);
        assert!(now.basis.starts_with("UU 14/2022"), "{}", now.basis);
        assert!(
            merauke.issued_in.ends_with("Kabupaten Merauke, Papua"),
            "{}",
            merauke.issued_in
        );
        assert!(now.place.ends_with("Kabupaten Merauke, Papua Selatan"), "{}", now.place);
        // Regency and district renumbered: Kurulu, Jayawijaya, was 9102 03 and is 9501 02.
        let kurulu = parse("9102035203950004", &REGIONS).unwrap();
        assert_eq!(kurulu.current.unwrap().district.as_deref(), Some("950102"));
        assert_eq!(kurulu.issued_in, "Kurulu, Kabupaten Jayawijaya, Papua");
        // Kalimantan Utara (2012): the regency is known, its former districts are not listed.
        let tarakan = parse("6473011203950004", &REGIONS).unwrap();
        let now = tarakan.current.unwrap();
        assert_eq!(
            (now.province.as_str(), now.regency.as_str(), now.district),
            ("65", "6571", None)
        );
        assert_eq!(now.place, "Kota Tarakan, Kalimantan Utara");
        // A NIK whose codes are in use has no "current".
        assert!(parse("3171071203950004", &REGIONS).unwrap().current.is_none());
        // Unknown codes are still refused, former regencies included.
        assert_eq!(
            parse("9199011203950004", &REGIONS).unwrap_err(),
            NikError::UnknownRegency("9199".into())
        );
        assert_eq!(
            parse("9102991203950004", &REGIONS).unwrap_err(),
            NikError::UnknownDistrict("910299".into()),
            "Jayawijaya's former districts are listed: 99 is not one"
        );
        assert_eq!(
            parse("6499011203950004", &REGIONS).unwrap_err(),
            NikError::UnknownRegency("6499".into())
        );
    }

    #[test]
    fn every_kind_of_bad_nik_has_its_own_error() {
        let cases: &[(&str, NikError)] = &[
            ("", NikError::Format),
            ("317107120395000", NikError::Format),
            ("31710712039500041", NikError::Format),
            ("31710712039500O4", NikError::Format),
            ("３１71071203950004", NikError::Format),
            ("9971071203950004", NikError::UnknownProvince("99".into())),
            ("3199071203950004", NikError::UnknownRegency("3199".into())),
            ("3171991203950004", NikError::UnknownDistrict("317199".into())),
            ("3171070003950004", NikError::BirthDate),
            ("3171073203950004", NikError::BirthDate),
            ("3171074003950004", NikError::BirthDate),
            ("3171077203950004", NikError::BirthDate),
            ("3171071200950004", NikError::BirthDate),
            ("3171071213950004", NikError::BirthDate),
            ("3171073104950004", NikError::BirthDate),
            ("3171072902950004", NikError::BirthDate),
            ("3171071203950000", NikError::Serial),
        ];
        for (nik, expected) in cases {
            assert_eq!(&parse(nik, &REGIONS).unwrap_err(), expected, "{nik:?}");
        }
    }

    #[test]
    fn february_29th_needs_a_leap_year() {
        // yy = 96: 1996 is leap. yy = 00: 2000 is leap (1900 is not). yy = 95: neither.
        assert!(parse("3171072902960004", &REGIONS).is_ok());
        assert!(parse("3171072902000004", &REGIONS).is_ok());
        assert_eq!(parse("3171072902950004", &REGIONS).unwrap_err(), NikError::BirthDate);
        // With the registered date the century decides.
        assert!(validate("3171072902000004", &REGIONS, date("2000-02-29"), Sex::Male).is_ok());
        assert!(Date::parse_iso("1900-02-29").is_none(), "1900 was not a leap year");
        assert!(validate("3171076902000004", &REGIONS, date("2000-02-29"), Sex::Female).is_ok());
    }

    #[test]
    fn the_nik_must_agree_with_the_registration() {
        let nik = "3171075203950004";
        assert!(validate(nik, &REGIONS, date("1995-03-12"), Sex::Female).is_ok());
        let wrong_sex = validate(nik, &REGIONS, date("1995-03-12"), Sex::Male).unwrap_err();
        assert_eq!((wrong_sex.problem(), wrong_sex.field()), ("nik-sex-mismatch", "sex"));
        for other in [
            "1995-03-13",
            "1995-04-12",
            "1996-03-12",
            "2095-03-12".replace("2095", "1895").as_str(),
        ] {
            let error = validate(nik, &REGIONS, date(other), Sex::Female);
            if other == "1895-03-12" {
                assert!(error.is_ok(), "the century is not in the NIK");
            } else {
                let error = error.unwrap_err();
                assert_eq!(
                    (error.problem(), error.field()),
                    ("nik-birth-date-mismatch", "birth_date"),
                    "{other}"
                );
            }
        }
    }

    #[test]
    fn problem_types_are_distinct_and_name_fields() {
        let errors = [
            NikError::Format,
            NikError::UnknownProvince(String::new()),
            NikError::UnknownRegency(String::new()),
            NikError::UnknownDistrict(String::new()),
            NikError::BirthDate,
            NikError::Serial,
            NikError::BirthDateMismatch { nik: String::new() },
            NikError::SexMismatch {
                nik: Sex::Male,
                registered: Sex::Female,
            },
        ];
        let mut slugs: Vec<_> = errors.iter().map(NikError::problem).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), errors.len());
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(
            Date::parse_iso("2024-02-29"),
            Some(Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "24-01-01",
            "2024-01-32",
            "x",
        ] {
            assert!(Date::parse_iso(bad).is_none(), "{bad}");
        }
    }
}
