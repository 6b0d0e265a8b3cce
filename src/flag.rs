//! The error of a flag value Docker's CLI refuses, in its (cobra's) words:
//! shared by the command line's shape (`cli`) and the modules whose parsers
//! clap calls for a flag's value (`spec`, `filter`), which therefore need
//! not know the command line.

/// A flag value Docker's CLI refuses, in its (cobra's) words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid argument {} for \"{flag}\" flag: {why}", crate::goquote::quote(.value))]
pub struct FlagError {
    pub flag: &'static str,
    pub value: String,
    pub why: String,
}
