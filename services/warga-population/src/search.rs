//! Search for residents by name prefix and region, over names that are sealed at rest.
//!
//! Names cannot be searched in the database because they are encrypted, so registration
//! also writes a *blind index*: every word of the name gives its prefixes of
//! [`MIN_PREFIX`]–[`MAX_PREFIX`] characters, and each prefix is stored only as a keyed hash
//! (the vault's index key, truncated to 64 bits) in `population_name_tokens`. A query is
//! turned into the same tokens; candidates must carry all of them; their sealed names are
//! then opened and checked, so a truncated-hash collision never shows a wrong resident.
//!
//! What the index reveals to someone holding the database but not the keys: which residents
//! share a name prefix (frequency analysis of common names), never the prefix itself.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_http::Platform;

use crate::error::PopulationError;
use warga_store::StoreError;

use crate::ktp::NewResident;
use crate::nik::Sex;
use crate::regions::REGIONS;

/// The shortest prefix searched for.
pub const MIN_PREFIX: usize = 3;
/// The longest prefix indexed; longer query words are cut to it.
pub const MAX_PREFIX: usize = 16;
const MAX_QUERY_WORDS: usize = 5;
const MAX_PAGE: u32 = 100;

/// The words of a name as the index sees them: lower case, letters and digits only
/// (apostrophes dropped, so "Ma'ruf" is "maruf"; other punctuation separates words).
pub fn words(name: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            cleaned.extend(c.to_lowercase());
        } else if !matches!(c, '\'' | '’' | '`') {
            cleaned.push(' ');
        }
    }
    cleaned.split_whitespace().map(str::to_owned).collect()
}

fn prefix(word: &str, len: usize) -> String {
    word.chars().take(len).collect()
}

async fn token(platform: &Platform, prefix: &str) -> Result<String, PopulationError> {
    let mut full = platform.vault.index(&format!("name-prefix\0{prefix}")).await?;
    full.truncate(16);
    Ok(full)
}

/// The index tokens of a name, computed before the writing transaction opens.
pub async fn name_tokens(platform: &Platform, name: &str) -> Result<BTreeSet<String>, PopulationError> {
    let mut prefixes = BTreeSet::new();
    for word in words(name) {
        let len = word.chars().count();
        for n in MIN_PREFIX..=len.min(MAX_PREFIX) {
            prefixes.insert(prefix(&word, n));
        }
    }
    let mut tokens = BTreeSet::new();
    for p in prefixes {
        tokens.insert(token(platform, &p).await?);
    }
    Ok(tokens)
}

/// The insert of `count` name tokens of one resident (`$1`; the tokens `$2`…), for
/// [`tokens_insert`].
pub fn tokens_insert_sql(count: usize) -> String {
    let mut sql = String::from("INSERT INTO population_name_tokens (token, resident_id) VALUES ");
    for i in 0..count {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, $1)", i + 2));
    }
    sql.push_str(" ON CONFLICT (token, resident_id) DO NOTHING");
    sql
}

/// A resident's name tokens in one statement (`sql` from [`tokens_insert_sql`] for their
/// number); `None` when there are none.
pub fn tokens_insert<'q>(sql: &'q str, resident_id: &str, tokens: &BTreeSet<String>) -> Option<warga_store::Query<'q>> {
    if tokens.is_empty() {
        return None;
    }
    let mut query = sqlx::query(sql).bind(resident_id.to_owned());
    for token in tokens {
        query = query.bind(token.clone());
    }
    Some(query)
}

/// What to search for: a name prefix, a region, or both.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SearchQuery {
    /// Beginnings of words of the name, e.g. `siti ami`; each word at least 3 letters.
    pub name: Option<String>,
    /// Province code (2 digits), regency/city code (4) or district code (6).
    pub region: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<u32>,
    /// Why residents are searched (UU PDP 27/2022); required over the API, kept in the audit
    /// log.
    pub purpose: Option<String>,
}

/// A resident in a list of search results (no NIK: open the record for it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResidentSummary {
    pub id: String,
    pub full_name: String,
    pub birth_date: String,
    pub sex: Sex,
    pub district: String,
    /// "district, regency/city, province".
    pub place: String,
    pub status: String,
}

/// A page of results; `next` is the cursor of the following page, if there may be one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    pub residents: Vec<ResidentSummary>,
    pub next: Option<String>,
}

/// The human-readable place of a district code (in use or former): "District, Regency,
/// Province".
pub fn place_name(district: &str) -> String {
    REGIONS.place_name(district)
}

/// Searches residents. At least a name or a region is needed; results are in order of
/// registration.
pub async fn search(platform: &Platform, query: &SearchQuery) -> Result<SearchPage, PopulationError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(PopulationError::invalid("limit", format!("must be 1 to {MAX_PAGE}"))
            .id(format!("harus 1 sampai {MAX_PAGE}")));
    }
    let name_words = words(query.name.as_deref().unwrap_or(""));
    if name_words.len() > MAX_QUERY_WORDS {
        return Err(
            PopulationError::invalid("name", format!("at most {MAX_QUERY_WORDS} words"))
                .id(format!("paling banyak {MAX_QUERY_WORDS} kata")),
        );
    }
    if name_words.iter().any(|w| w.chars().count() < MIN_PREFIX) {
        return Err(
            PopulationError::invalid("name", format!("every word needs at least {MIN_PREFIX} letters"))
                .id(format!("setiap kata paling sedikit {MIN_PREFIX} huruf")),
        );
    }
    let region = query.region.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let region_column = match region {
        None => None,
        Some(code) if code.len() == 2 && REGIONS.province(code).is_some() => Some("province"),
        Some(code) if code.len() == 4 && REGIONS.regency(code).is_some() => Some("regency"),
        Some(code) if code.len() == 6 && REGIONS.district(code).is_some() => Some("district"),
        Some(code) => {
            return Err(PopulationError::invalid(
                "region",
                format!("no province, regency/city or district has code {code}"),
            )
            .id(format!(
                "tidak ada provinsi, kabupaten/kota atau kecamatan dengan kode {code}"
            )));
        }
    };
    if name_words.is_empty() && region_column.is_none() {
        return Err(
            PopulationError::invalid("name", "give a name, a region, or both").id("isi nama, wilayah, atau keduanya")
        );
    }
    let mut tokens = BTreeSet::new();
    for word in &name_words {
        tokens.insert(token(platform, &prefix(word, MAX_PREFIX)).await?);
    }

    let mut sql = String::from("SELECT id, key_id, sealed, district, status FROM population_residents WHERE 1 = 1");
    let mut n = 0;
    let mut next_param = || {
        n += 1;
        format!("${n}")
    };
    if !tokens.is_empty() {
        let params: Vec<String> = tokens.iter().map(|_| next_param()).collect();
        sql.push_str(&format!(
            " AND id IN (SELECT resident_id FROM population_name_tokens WHERE token IN ({}) \
             GROUP BY resident_id HAVING COUNT(*) = {})",
            params.join(", "),
            tokens.len()
        ));
    }
    if let Some(column) = region_column {
        sql.push_str(&format!(" AND {column} = {}", next_param()));
    }
    if query.after.is_some() {
        sql.push_str(&format!(" AND id > {}", next_param()));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", next_param()));
    let mut statement = sqlx::query(&sql);
    for token in &tokens {
        statement = statement.bind(token);
    }
    if let Some(code) = region {
        statement = statement.bind(code);
    }
    if let Some(after) = &query.after {
        statement = statement.bind(after);
    }
    let rows = statement
        .bind(i64::from(limit))
        .fetch_all(platform.store.reader())
        .await
        .map_err(StoreError::from)?;

    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.get::<String, _>(0)))
        .flatten();
    let mut residents = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.get(0);
        let sealed = warga_auth::Sealed {
            key_id: row.get(1),
            ciphertext: row.get(2),
        };
        let json = platform.vault.open(&sealed, &format!("resident:{id}")).await?;
        let fields: NewResident = serde_json::from_slice(&json).map_err(PopulationError::corrupt)?;
        let have = words(&fields.full_name);
        let matches = name_words
            .iter()
            .all(|q| have.iter().any(|w| w.starts_with(&prefix(q, MAX_PREFIX))));
        if !matches {
            continue;
        }
        let district: String = row.get(3);
        residents.push(ResidentSummary {
            id,
            full_name: fields.full_name,
            birth_date: fields.birth_date,
            sex: fields.sex,
            place: place_name(&district),
            district,
            status: row.get(4),
        });
    }
    Ok(SearchPage { residents, next })
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn words_are_lower_case_letters_and_digits() {
        assert_eq!(words("Siti  Aminah"), ["siti", "aminah"]);
        assert_eq!(words("Ma'ruf Amin"), ["maruf", "amin"]);
        assert_eq!(
            words("I Gusti Ngurah-Rai, S.H."),
            ["i", "gusti", "ngurah", "rai", "s", "h"]
        );
        assert_eq!(words("ÉLISE Ñúñez"), ["élise", "ñúñez"]);
        assert!(words(" - ").is_empty());
    }
}
