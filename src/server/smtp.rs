//! SMTP intake (being written).
