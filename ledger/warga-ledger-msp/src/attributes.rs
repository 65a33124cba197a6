//! Attributes in certificates, as Fabric CA writes them: an X.509 extension (OID
//! `1.2.3.4.5.6.7.8.1`) whose value is the JSON `{"attrs":{"name":"value",…}}`. A contract
//! reads them from its invoker (Fabric's `cid.GetAttributeValue`); the BPJS contract reads
//! `facility`, the code of the health facility a user works at.

use std::collections::BTreeMap;

use crate::MspError;

/// Fabric CA's attribute extension.
pub const OID: [u64; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 1];
/// The same, dotted, as x509-parser prints it.
pub const OID_DOTTED: &str = "1.2.3.4.5.6.7.8.1";

pub use warga_ledger_core::chaincode::{
    ATTRIBUTE_VALUE_BYTES_MAX as VALUE_BYTES_MAX, ATTRIBUTES_MAX, check_attribute as check,
    check_attributes as check_all,
};

/// The extension's value for `attributes`.
pub fn encode(attributes: &BTreeMap<String, String>) -> Vec<u8> {
    serde_json::json!({ "attrs": attributes }).to_string().into_bytes()
}

/// The attributes in an extension's value.
pub fn decode(value: &[u8]) -> Result<BTreeMap<String, String>, MspError> {
    #[derive(serde::Deserialize)]
    struct Extension {
        #[serde(default)]
        attrs: BTreeMap<String, String>,
    }
    let extension: Extension = serde_json::from_slice(value)
        .map_err(|e| MspError::Malformed(format!("the attribute extension is not Fabric CA's JSON: {e}")))?;
    check_all(&extension.attrs).map_err(MspError::Malformed)?;
    Ok(extension.attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_and_bad_ones_are_refused() {
        let attributes = BTreeMap::from([
            ("facility".to_owned(), "P3578010".to_owned()),
            ("hf.EnrollmentID".to_owned(), "bidan.sari".to_owned()),
        ]);
        assert_eq!(decode(&encode(&attributes)).unwrap(), attributes);
        assert_eq!(
            String::from_utf8(encode(&attributes)).unwrap(),
            r#"{"attrs":{"facility":"P3578010","hf.EnrollmentID":"bidan.sari"}}"#
        );
        assert!(decode(b"not json").is_err());
        assert!(decode(br#"{"attrs":{"bad name":"x"}}"#).is_err());
        assert!(check("facility", "line\nbreak").is_err());
        assert!(check("", "x").is_err());
        let many: BTreeMap<String, String> = (0..17).map(|i| (format!("a{i}"), "v".to_owned())).collect();
        assert!(check_all(&many).is_err());
    }
}
