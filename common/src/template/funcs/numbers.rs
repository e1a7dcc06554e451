//! sprig `numeric.go` and the float functions of `functions.go`. `addf`, `subf`, `mulf`,
//! `divf` and `add1f` go through shopspring/decimal in sprig (`execDecimalOp`): each operand is
//! the shortest decimal that round-trips its float64, the arithmetic is exact (division to 16
//! decimal places) and the result is converted back. [`Dec`] does the same in an i128
//! mantissa; an operation that would overflow it falls back to float64 arithmetic.

use super::Answer;
use crate::template::{Exec, Value, XR, to_f64, to_i64};

/// `mantissa × 10^exp`.
#[derive(Clone, Copy)]
struct Dec {
    m: i128,
    e: i32,
}

impl Dec {
    /// shopspring `NewFromFloat`: the shortest decimal that round-trips.
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        // `{:e}` prints the shortest round-trip digits, e.g. `1.25e-3`.
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let neg = mant.starts_with('-');
        let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
        let frac = mant.split_once('.').map_or(0, |(_, b)| b.len()) as i32;
        let m: i128 = digits.parse().ok()?;
        Some(Dec {
            m: if neg { -m } else { m },
            e: exp - frac,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(f64::NAN)
    }

    /// Both at the smaller exponent.
    fn align(a: Dec, b: Dec) -> Option<(i128, i128, i32)> {
        let e = a.e.min(b.e);
        let scale = |d: Dec| -> Option<i128> {
            let p = u32::try_from(d.e - e).ok()?;
            d.m.checked_mul(10i128.checked_pow(p)?)
        };
        Some((scale(a)?, scale(b)?, e))
    }

    fn add(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, e) = Dec::align(a, b)?;
        Some(Dec {
            m: x.checked_add(y)?,
            e,
        })
    }

    fn sub(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, e) = Dec::align(a, b)?;
        Some(Dec {
            m: x.checked_sub(y)?,
            e,
        })
    }

    fn mul(a: Dec, b: Dec) -> Option<Dec> {
        Some(Dec {
            m: a.m.checked_mul(b.m)?,
            e: a.e.checked_add(b.e)?,
        })
    }

    /// shopspring `Div`: `DivRound(d2, 16)`, half away from zero.
    fn div(a: Dec, b: Dec) -> Option<Dec> {
        if b.m == 0 {
            return None;
        }
        // q = a.m × 10^(a.e − b.e + 16) / b.m, at exponent −16.
        let shift = a.e - b.e + 16;
        let (num, den) = if shift >= 0 {
            (
                a.m.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?,
                b.m,
            )
        } else {
            (
                a.m,
                b.m.checked_mul(10i128.checked_pow(u32::try_from(-shift).ok()?)?)?,
            )
        };
        let q = num / den;
        let r = num % den;
        let q = if r.checked_mul(2)?.abs() >= den.abs() {
            if (num < 0) != (den < 0) { q - 1 } else { q + 1 }
        } else {
            q
        };
        Some(Dec { m: q, e: -16 })
    }
}

/// sprig `execDecimalOp`. `Err(())` is shopspring's division-by-zero panic.
fn decimal_op(first: f64, rest: &[f64], op: &str) -> Result<f64, ()> {
    let exact = || -> Option<f64> {
        let mut acc = Dec::from_f64(first)?;
        for &x in rest {
            let d = Dec::from_f64(x)?;
            acc = match op {
                "add" => Dec::add(acc, d)?,
                "sub" => Dec::sub(acc, d)?,
                "mul" => Dec::mul(acc, d)?,
                _ => Dec::div(acc, d)?,
            };
        }
        Some(acc.to_f64())
    };
    if op == "div" && rest.contains(&0.0) {
        return Err(());
    }
    if let Some(v) = exact() {
        return Ok(v);
    }
    let mut acc = first;
    for &x in rest {
        acc = match op {
            "add" => acc + x,
            "sub" => acc - x,
            "mul" => acc * x,
            _ => acc / x,
        };
    }
    Ok(acc)
}

/// sprig `untilStep` (bounded by the step budget).
pub(in crate::template) fn until_step(
    ex: &mut Exec<'_>,
    start: i64,
    stop: i64,
    step: i64,
) -> XR<Vec<i64>> {
    let mut v = Vec::new();
    let mut i = start;
    if stop < start {
        if step >= 0 {
            return Ok(v);
        }
        while i > stop {
            ex.step()?;
            v.push(i);
            i = match i.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
        return Ok(v);
    }
    if step <= 0 {
        return Ok(v);
    }
    while i < stop {
        ex.step()?;
        v.push(i);
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(v)
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let v = match f {
        "addf" | "add1f" | "subf" | "mulf" | "divf" => {
            let nums: Vec<f64> = args.iter().map(to_f64).collect();
            let (first, rest): (f64, Vec<f64>) = match f {
                "addf" => (0.0, nums),
                "add1f" => {
                    if nums.len() != 1 {
                        let n = nums.len();
                        return ex.err(format!("wrong number of args for {f}: want 1 got {n}"));
                    }
                    (nums.first().copied().unwrap_or(0.0), vec![1.0])
                }
                _ => {
                    ex.at_least(f, &args, 1)?;
                    let mut it = nums.into_iter();
                    (it.next().unwrap_or(0.0), it.collect())
                }
            };
            ex.charge(rest.len() as u64)?;
            let op = match f {
                "addf" | "add1f" => "add",
                "subf" => "sub",
                "mulf" => "mul",
                _ => "div",
            };
            match decimal_op(first, &rest, op) {
                Ok(v) => Value::Float(v),
                Err(()) => return ex.call_err(f, "decimal division by zero"),
            }
        }
        "maxf" | "minf" => {
            ex.at_least(f, &args, 1)?;
            let mut it = args.iter().map(to_f64);
            let mut acc = it.next().unwrap_or(0.0);
            for x in it {
                // Go's math.Max / math.Min: NaN wins, and ±0 are ordered.
                acc = if acc.is_nan() || x.is_nan() {
                    f64::NAN
                } else if f == "maxf" {
                    if x > acc || (x == 0.0 && acc == 0.0 && acc.is_sign_negative()) {
                        x
                    } else {
                        acc
                    }
                } else if x < acc || (x == 0.0 && acc == 0.0 && x.is_sign_negative()) {
                    x
                } else {
                    acc
                };
            }
            Value::Float(acc)
        }
        "round" => {
            ex.at_least(f, &args, 2)?;
            if args.len() > 3 {
                let n = args.len();
                return ex.err(format!(
                    "wrong number of args for {f}: want at least 2 got {n}"
                ));
            }
            let val = to_f64(args.first().unwrap_or(&Value::Nil));
            let places = ex.i(args.get(1).unwrap_or(&Value::Nil))? as f64;
            let round_on = match args.get(2) {
                Some(Value::Float(r)) => *r,
                Some(Value::Int(i)) => *i as f64,
                Some(o) => {
                    let t = o.type_name();
                    return ex.err(format!("wrong type for value; expected float64; got {t}"));
                }
                None => 0.5,
            };
            let pow = 10f64.powf(places);
            let digit = pow * val;
            let frac = digit - digit.trunc();
            let r = if frac >= round_on {
                digit.ceil()
            } else {
                digit.floor()
            };
            Value::Float(r / pow)
        }
        "untilStep" => {
            let [a, b, c] = ex.fixed::<3>(f, args)?;
            let (a, b, c) = (ex.i(&a)?, ex.i(&b)?, ex.i(&c)?);
            let v = until_step(ex, a, b, c)?;
            ex.mk_list(v.into_iter().map(Value::Int).collect())?
        }
        "seq" => {
            let mut p = Vec::with_capacity(args.len());
            for a in &args {
                p.push(ex.i(a)?);
            }
            let nums = match p.as_slice() {
                [] => Vec::new(),
                [end] => {
                    let inc = if *end < 1 { -1 } else { 1 };
                    until_step(ex, 1, end.saturating_add(inc), inc)?
                }
                [start, end] => {
                    let step = if end < start { -1 } else { 1 };
                    until_step(ex, *start, end.saturating_add(step), step)?
                }
                [start, step, end] => {
                    let mut inc = 1;
                    if end < start {
                        inc = -1;
                        if *step > 0 {
                            return Ok(Ok(Value::str("")));
                        }
                    }
                    until_step(ex, *start, end.saturating_add(inc), *step)?
                }
                _ => {
                    // sprig: default case of the switch returns "" for more than 3 arguments.
                    Vec::new()
                }
            };
            let s: Vec<String> = nums.iter().map(i64::to_string).collect();
            let s = s.join(" ");
            ex.check_len(s.len())?;
            Value::str(&s)
        }
        "toDecimal" => {
            let [v] = ex.fixed::<1>(f, args)?;
            let s = ex.strval(&v)?;
            let s = String::from_utf8_lossy(&s).into_owned();
            // strconv.ParseInt(s, 8, 64): optional sign, octal digits and `_` only with a prefix.
            let (neg, digits) = match s.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, s.strip_prefix('+').unwrap_or(&s)),
            };
            let parsed = if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
            {
                None
            } else {
                i64::from_str_radix(digits, 8).ok()
            };
            Value::Int(match parsed {
                Some(n) if neg => -n,
                Some(n) => n,
                None => 0,
            })
        }
        "randInt" => {
            let [a, b] = ex.fixed::<2>(f, args)?;
            let (lo, hi) = (ex.i(&a)?, ex.i(&b)?);
            let n = hi.wrapping_sub(lo);
            if n <= 0 {
                return ex.call_err(f, "invalid argument to Intn");
            }
            let r = ex.random_below(n as u64)? as i64;
            Value::Int(r + lo)
        }
        _ => {
            let _ = to_i64;
            return Ok(Err(args));
        }
    };
    Ok(Ok(v))
}
