//! Fabric's validation codes: what a committing peer records for each transaction of a
//! block, kept in the block's metadata.

/// Fabric's transaction validation codes (same numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum ValidationCode {
    Valid = 0,
    BadCreatorSignature = 4,
    /// A configuration transaction that does not apply to the configuration of its block.
    InvalidConfigTransaction = 6,
    BadProposalTxId = 8,
    DuplicateTxId = 9,
    EndorsementPolicyFailure = 10,
    MvccReadConflict = 11,
    PhantomReadConflict = 12,
    TargetChainNotFound = 14,
    /// Endorsed under a chaincode definition (sequence) no longer in force.
    ExpiredChaincode = 17,
    BadResponsePayload = 21,
    BadRwSet = 22,
    IllegalWriteset = 23,
    InvalidChaincode = 25,
}

impl ValidationCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::Valid => "VALID",
            ValidationCode::BadCreatorSignature => "BAD_CREATOR_SIGNATURE",
            ValidationCode::InvalidConfigTransaction => "INVALID_CONFIG_TRANSACTION",
            ValidationCode::BadProposalTxId => "BAD_PROPOSAL_TXID",
            ValidationCode::DuplicateTxId => "DUPLICATE_TXID",
            ValidationCode::EndorsementPolicyFailure => "ENDORSEMENT_POLICY_FAILURE",
            ValidationCode::MvccReadConflict => "MVCC_READ_CONFLICT",
            ValidationCode::PhantomReadConflict => "PHANTOM_READ_CONFLICT",
            ValidationCode::TargetChainNotFound => "TARGET_CHAIN_NOT_FOUND",
            ValidationCode::ExpiredChaincode => "EXPIRED_CHAINCODE",
            ValidationCode::BadResponsePayload => "BAD_RESPONSE_PAYLOAD",
            ValidationCode::BadRwSet => "BAD_RWSET",
            ValidationCode::IllegalWriteset => "ILLEGAL_WRITESET",
            ValidationCode::InvalidChaincode => "INVALID_CHAINCODE",
        }
    }

    pub fn from_u8(code: u8) -> Option<ValidationCode> {
        use ValidationCode::*;
        [
            Valid,
            BadCreatorSignature,
            InvalidConfigTransaction,
            BadProposalTxId,
            DuplicateTxId,
            EndorsementPolicyFailure,
            MvccReadConflict,
            PhantomReadConflict,
            TargetChainNotFound,
            ExpiredChaincode,
            BadResponsePayload,
            BadRwSet,
            IllegalWriteset,
            InvalidChaincode,
        ]
        .into_iter()
        .find(|c| *c as u8 == code)
    }
}
