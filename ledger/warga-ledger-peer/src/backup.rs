//! A consistent copy of a running peer's ledger: every table read in **one** read
//! transaction (a snapshot redb keeps while the peer goes on committing) and written to a
//! new file in one write transaction. The copy is a ledger like any other: `warga ledger
//! verify` replays it, and a peer opens it where the original was.

use std::path::Path;

use redb::{ReadableDatabase, TableDefinition, TableHandle};

use crate::{LedgerError, PeerLedger, private, storage};

/// What a copy holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copied {
    /// Blocks in the copy.
    pub height: u64,
    /// Rows in every table together.
    pub rows: u64,
}

impl PeerLedger {
    /// Writes a consistent copy of this ledger to `path` (which must not exist). A table the
    /// copy does not know fails it, rather than leaving it out.
    pub fn copy_to(&self, path: &Path) -> Result<Copied, LedgerError> {
        if path.exists() {
            return Err(LedgerError::Storage(format!("{} already exists", path.display())));
        }
        let read = self.db.begin_read().map_err(storage)?;
        let target = redb::Builder::new().create(path).map_err(storage)?;
        let write = target.begin_write().map_err(storage)?;
        let mut rows = 0;
        rows += copy_table(&read, &write, crate::BLOCKS)?;
        rows += copy_table(&read, &write, crate::TXS)?;
        rows += copy_table(&read, &write, crate::STATE)?;
        rows += copy_table(&read, &write, crate::HISTORY)?;
        rows += copy_table(&read, &write, crate::CONFIGS)?;
        rows += private::copy_tables(&read, &write)?;
        let known = [
            crate::BLOCKS.name(),
            crate::TXS.name(),
            crate::STATE.name(),
            crate::HISTORY.name(),
            crate::CONFIGS.name(),
        ];
        for table in read.list_tables().map_err(storage)? {
            let name = table.name();
            if !known.contains(&name) && !private::TABLES.contains(&name) {
                return Err(LedgerError::Storage(format!("the copy does not know table {name}")));
            }
        }
        write.commit().map_err(storage)?;
        let height = match read.open_table(crate::BLOCKS) {
            Ok(table) => redb::ReadableTableMetadata::len(&table).map_err(storage)?,
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(e) => return Err(storage(e)),
        };
        Ok(Copied { height, rows })
    }
}

/// Copies one table's rows as they are; a table the source lacks is left out.
pub(crate) fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &redb::ReadTransaction,
    write: &redb::WriteTransaction,
    definition: TableDefinition<K, V>,
) -> Result<u64, LedgerError> {
    let source = match read.open_table(definition) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(storage(e)),
    };
    let mut target = write.open_table(definition).map_err(storage)?;
    let mut rows = 0;
    for entry in redb::ReadableTable::iter(&source).map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        target.insert(key.value(), value.value()).map_err(storage)?;
        rows += 1;
    }
    Ok(rows)
}
