//! The family card's number (nomor KK), checked as a NIK is: 16 digits, the district where
//! the card was issued (today's codes or former ones), a date of issue `ddmmyy` (no +40: it
//! is no birth date), and a serial other than 0000. Pure, like `nik`.

use serde::Serialize;

use crate::nik::{self, CurrentRegion, Date, NikError};
use crate::regions::Regions;

/// Why a KK number is refused; [`KkNumberError::problem`] is the problem type's last segment.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KkNumberError {
    #[error("a KK number is 16 digits")]
    Format,
    #[error("no province has code {0}")]
    UnknownProvince(String),
    #[error("no regency or city has code {0}")]
    UnknownRegency(String),
    #[error("no district has code {0}")]
    UnknownDistrict(String),
    #[error("digits 7-12 are not a date of issue (ddmmyy)")]
    IssueDate,
    #[error("the serial number (last four digits) cannot be 0000")]
    Serial,
}

impl KkNumberError {
    pub fn problem(&self) -> &'static str {
        match self {
            KkNumberError::Format => "kk-format",
            KkNumberError::UnknownProvince(_) => "kk-province",
            KkNumberError::UnknownRegency(_) => "kk-regency",
            KkNumberError::UnknownDistrict(_) => "kk-district",
            KkNumberError::IssueDate => "kk-issue-date",
            KkNumberError::Serial => "kk-serial",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            KkNumberError::Format => "A KK number is 16 digits",
            KkNumberError::UnknownProvince(_) => "Unknown province code in the KK number",
            KkNumberError::UnknownRegency(_) => "Unknown regency or city code in the KK number",
            KkNumberError::UnknownDistrict(_) => "Unknown district code in the KK number",
            KkNumberError::IssueDate => "The KK number holds no valid date of issue",
            KkNumberError::Serial => "The KK number's serial is 0000",
        }
    }

    /// The detail in Bahasa Indonesia.
    pub fn detail_id(&self) -> String {
        match self {
            KkNumberError::Format => "nomor KK terdiri atas 16 angka".into(),
            KkNumberError::UnknownProvince(code) => format!("tidak ada provinsi dengan kode {code}"),
            KkNumberError::UnknownRegency(code) => format!("tidak ada kabupaten/kota dengan kode {code}"),
            KkNumberError::UnknownDistrict(code) => format!("tidak ada kecamatan dengan kode {code}"),
            KkNumberError::IssueDate => "angka ke-7 sampai ke-12 bukan tanggal terbit (hhbbtt)".into(),
            KkNumberError::Serial => "nomor urut (empat angka terakhir) tidak boleh 0000".into(),
        }
    }

    pub fn title_id(&self) -> &'static str {
        match self {
            KkNumberError::Format => "Nomor KK terdiri atas 16 angka",
            KkNumberError::UnknownProvince(_) => "Kode provinsi dalam nomor KK tidak dikenal",
            KkNumberError::UnknownRegency(_) => "Kode kabupaten/kota dalam nomor KK tidak dikenal",
            KkNumberError::UnknownDistrict(_) => "Kode kecamatan dalam nomor KK tidak dikenal",
            KkNumberError::IssueDate => "Nomor KK tidak memuat tanggal terbit yang sah",
            KkNumberError::Serial => "Nomor urut KK tidak boleh 0000",
        }
    }
}

/// What a KK number says: where it was issued (by the names its codes had) and, when those
/// codes were later replaced, that region today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KkNumber {
    pub district: String,
    pub issued_in: String,
    pub current: Option<CurrentRegion>,
}

/// Checks a KK number as the NIK is checked: 16 digits, a district in the region table (today's
/// codes or former ones), a date of issue `ddmmyy`, a serial other than 0000.
pub fn parse_number(number: &str, regions: &Regions) -> Result<KkNumber, KkNumberError> {
    let bytes = number.as_bytes();
    if bytes.len() != 16 || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(KkNumberError::Format);
    }
    if regions.province(&number[..2]).is_none() {
        return Err(KkNumberError::UnknownProvince(number[..2].to_owned()));
    }
    let current = nik::current_region(regions, &number[..4], &number[..6]).map_err(|error| match error {
        NikError::UnknownRegency(code) => KkNumberError::UnknownRegency(code),
        NikError::UnknownDistrict(code) => KkNumberError::UnknownDistrict(code),
        _ => KkNumberError::Format,
    })?;
    let two = |at: usize| u32::from(bytes[at] - b'0') * 10 + u32::from(bytes[at + 1] - b'0');
    let (day, month, year_2) = (two(6), two(8), two(10));
    let possible = [1900, 2000]
        .iter()
        .any(|century| Date::new(century + year_2 as i32, month, day).is_some());
    if !possible {
        return Err(KkNumberError::IssueDate);
    }
    if &number[12..] == "0000" {
        return Err(KkNumberError::Serial);
    }
    Ok(KkNumber {
        district: number[..6].to_owned(),
        issued_in: regions.place_name(&number[..6]),
        current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regions::REGIONS;

    #[test]
    fn kk_numbers_are_checked_like_niks() {
        let regions = &*REGIONS;
        let ok = parse_number("3171071203150001", regions).unwrap();
        assert_eq!(ok.district, "317107");
        assert!(ok.current.is_none());
        assert_eq!(parse_number("317107120315000", regions), Err(KkNumberError::Format));
        assert_eq!(parse_number("31710712031500a1", regions), Err(KkNumberError::Format));
        assert_eq!(
            parse_number("9971071203150001", regions),
            Err(KkNumberError::UnknownProvince("99".into()))
        );
        assert_eq!(
            parse_number("3199071203150001", regions),
            Err(KkNumberError::UnknownRegency("3199".into()))
        );
        assert_eq!(
            parse_number("3171991203150001", regions),
            Err(KkNumberError::UnknownDistrict("317199".into()))
        );
        // No day +40 on a KK: it is a date of issue, not a birth date.
        assert_eq!(parse_number("3171075203150001", regions), Err(KkNumberError::IssueDate));
        assert_eq!(parse_number("3171073102150001", regions), Err(KkNumberError::IssueDate));
        assert_eq!(parse_number("3171071203150000", regions), Err(KkNumberError::Serial));
        // Issued in Kurulu, Papua, before the 2022 split: accepted, and where it is today.
        let former = parse_number("9102031203150001", regions).unwrap();
        assert_eq!(former.current.unwrap().district.as_deref(), Some("950102"));
    }
}
