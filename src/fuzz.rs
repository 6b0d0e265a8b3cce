//! Property tests ("fuzzing" in CI, bounded in time) of every parser of
//! user input.
