//! placement (under construction)
