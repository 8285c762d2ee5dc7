//! scaling (under construction)
