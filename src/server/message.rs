//! Message parsing for FETCH (being written).
