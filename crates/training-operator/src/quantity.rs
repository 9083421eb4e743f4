//! Parsing of Kubernetes resource quantities into integers the admission
//! arithmetic can add and compare (CPU in millicores, memory in bytes).

use thiserror::Error;

/// A resource quantity string that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid quantity {value:?}: {why}")]
pub struct QuantityError {
    /// The offending text.
    pub value: String,
    /// What is wrong with it.
    pub why: &'static str,
}

fn err(value: &str, why: &'static str) -> QuantityError {
    QuantityError {
        value: value.to_string(),
        why,
    }
}

/// Splits `"1.5Gi"` into (`1.5`, `"Gi"`).
fn split(value: &str) -> Result<(f64, &str), QuantityError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(err(value, "empty"));
    }
    let idx = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(v.len());
    let (num, suffix) = v.split_at(idx);
    // An exponent form such as "1e3" is legal in Kubernetes quantities.
    if let Some(exp) = suffix.strip_prefix(['e', 'E'])
        && !exp.is_empty()
        && exp
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '+')
    {
        let n: f64 = num.parse().map_err(|_| err(value, "not a number"))?;
        let e: i32 = exp.parse().map_err(|_| err(value, "bad exponent"))?;
        return Ok((n * 10f64.powi(e), ""));
    }
    let n: f64 = num.parse().map_err(|_| err(value, "not a number"))?;
    if n < 0.0 || !n.is_finite() {
        return Err(err(value, "must be a non-negative finite number"));
    }
    Ok((n, suffix))
}

fn multiplier(value: &str, suffix: &str) -> Result<f64, QuantityError> {
    Ok(match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return Err(err(value, "unknown suffix")),
    })
}

/// CPU quantity in millicores (`"500m"` → 500, `"2"` → 2000), rounded up.
pub fn cpu_millis(value: &str) -> Result<u64, QuantityError> {
    let (n, suffix) = split(value)?;
    let v = n * multiplier(value, suffix)? * 1000.0;
    Ok(v.ceil() as u64)
}

/// Memory (or any plain) quantity in base units (`"1Gi"` → 1073741824), rounded up.
pub fn bytes(value: &str) -> Result<u64, QuantityError> {
    let (n, suffix) = split(value)?;
    let v = n * multiplier(value, suffix)?;
    Ok(v.ceil() as u64)
}

/// Integer count quantity such as `nvidia.com/gpu: "8"`.
pub fn count(value: &str) -> Result<u64, QuantityError> {
    bytes(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu() {
        assert_eq!(cpu_millis("500m").unwrap(), 500);
        assert_eq!(cpu_millis("2").unwrap(), 2000);
        assert_eq!(cpu_millis("0.25").unwrap(), 250);
        assert_eq!(cpu_millis("1e3").unwrap(), 1_000_000);
    }

    #[test]
    fn parses_memory() {
        assert_eq!(bytes("1Gi").unwrap(), 1 << 30);
        assert_eq!(bytes("512Mi").unwrap(), 512 << 20);
        assert_eq!(bytes("1G").unwrap(), 1_000_000_000);
        assert_eq!(bytes("128974848").unwrap(), 128_974_848);
        assert_eq!(count("8").unwrap(), 8);
    }

    #[test]
    fn rejects_garbage() {
        assert!(bytes("").is_err());
        assert!(bytes("abc").is_err());
        assert!(bytes("1Xi").is_err());
        assert!(cpu_millis("-1").is_err());
    }
}
