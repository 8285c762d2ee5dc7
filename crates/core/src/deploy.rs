//! deploy (under construction)
