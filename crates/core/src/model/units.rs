//! Task-level `cpu` and `memory` as ECS reads them: integers in text (`"1024"`), or with units
//! (`"0.25 vCPU"`, `"1 vcpu"`, `"2 GB"`, `"1GB"`), which ECS converts to CPU units and MiB.

/// Why a cpu or memory string is not one ECS understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Empty or blank text.
    #[error("the value is empty")]
    Empty,
    /// Not a number, optionally followed by the expected unit.
    #[error("'{text}' is not a number of {expected}")]
    NotANumber {
        /// The text as given.
        text: String,
        /// What was expected, such as `CPU units or vCPU`.
        expected: &'static str,
    },
    /// A fractional amount that does not convert to a whole number of units.
    #[error("'{0}' does not convert to a whole number")]
    Fraction(String),
}

fn parse_with_unit(
    text: &str,
    units: &[&str],
    factor: f64,
    expected: &'static str,
) -> Result<u64, UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Empty);
    }
    let lower = trimmed.to_ascii_lowercase();
    let (number, scaled) = match units.iter().find(|u| lower.ends_with(*u)) {
        Some(unit) => (lower[..lower.len() - unit.len()].trim_end(), true),
        None => (lower.as_str(), false),
    };
    let not_a_number = || UnitError::NotANumber {
        text: text.to_string(),
        expected,
    };
    if !scaled {
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_a_number());
        }
        return number.parse::<u64>().map_err(|_| not_a_number());
    }
    if number.is_empty()
        || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || number.matches('.').count() > 1
        || number == "."
    {
        return Err(not_a_number());
    }
    let value: f64 = number.parse().map_err(|_| not_a_number())?;
    let converted = value * factor;
    if converted.fract() != 0.0 || !converted.is_finite() || converted > u32::MAX as f64 {
        return Err(UnitError::Fraction(text.to_string()));
    }
    Ok(converted as u64)
}

/// Reads a task-level `cpu` value as CPU units (1 vCPU = 1024 units).
///
/// # Errors
///
/// [`UnitError`] when the text is empty, not a whole number of units, or not a number of vCPU
/// that converts to whole units.
///
/// # Example
///
/// ```
/// use berth_core::model::parse_cpu_units;
/// assert_eq!(parse_cpu_units("1024"), Ok(1024));
/// assert_eq!(parse_cpu_units("0.25 vCPU"), Ok(256));
/// assert_eq!(parse_cpu_units("2 vcpu"), Ok(2048));
/// assert!(parse_cpu_units("$$CPU$$").is_err());
/// ```
pub fn parse_cpu_units(text: &str) -> Result<u64, UnitError> {
    parse_with_unit(text, &["vcpu"], 1024.0, "CPU units or vCPU")
}

/// Reads a task-level `memory` value as MiB (1 GB = 1024 MiB, as ECS converts it).
///
/// # Errors
///
/// [`UnitError`] when the text is empty, not a whole number of MiB, or not a number of GB that
/// converts to whole MiB.
///
/// # Example
///
/// ```
/// use berth_core::model::parse_memory_mib;
/// assert_eq!(parse_memory_mib("512"), Ok(512));
/// assert_eq!(parse_memory_mib("2 GB"), Ok(2048));
/// assert_eq!(parse_memory_mib("1GB"), Ok(1024));
/// assert_eq!(parse_memory_mib("0.5 gb"), Ok(512));
/// assert!(parse_memory_mib("lots").is_err());
/// ```
pub fn parse_memory_mib(text: &str) -> Result<u64, UnitError> {
    parse_with_unit(text, &["gb"], 1024.0, "MiB or GB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_spellings() {
        for (text, units) in [
            ("256", 256),
            (" 512 ", 512),
            ("1 vCPU", 1024),
            ("1vcpu", 1024),
            ("0.5 VCPU", 512),
            ("16 vCPU", 16384),
        ] {
            assert_eq!(parse_cpu_units(text), Ok(units), "{text}");
        }
        for (text, mib) in [
            ("2048", 2048),
            ("2 GB", 2048),
            ("2 gb", 2048),
            ("30GB", 30720),
            ("1.5 GB", 1536),
        ] {
            assert_eq!(parse_memory_mib(text), Ok(mib), "{text}");
        }
    }

    #[test]
    fn rejected_spellings() {
        assert_eq!(parse_cpu_units(""), Err(UnitError::Empty));
        for text in [
            "-1",
            "1.5",
            "vCPU",
            "1 GB",
            "1e3",
            "0x10",
            "1..0 vcpu",
            ". vcpu",
        ] {
            assert!(parse_cpu_units(text).is_err(), "{text}");
        }
        assert!(matches!(
            parse_cpu_units("0.001 vcpu"),
            Err(UnitError::Fraction(_))
        ));
        for text in ["512 MiB", "2 TB", "GB", "-2 GB"] {
            assert!(parse_memory_mib(text).is_err(), "{text}");
        }
    }
}
