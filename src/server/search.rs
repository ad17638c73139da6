//! SEARCH evaluation (being written).
