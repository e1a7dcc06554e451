//! sprig `list.go`: the functions `template.rs` does not already have (`tuple`, `chunk`, sprig's
//! `slice`, the `must*` variants). sprig's plain functions panic where the `must*` ones return an
//! error; in a template both are an execution error, so each pair shares one implementation.

use super::Answer;
use crate::template::{Exec, Value, XR, to_i64};

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let v = match f {
        "tuple" => ex.apply("list", args)?,
        "mustAppend" | "mustPush" => ex.apply("append", args)?,
        "mustPrepend" => ex.apply("prepend", args)?,
        "mustFirst" => ex.apply("first", args)?,
        "mustLast" => ex.apply("last", args)?,
        "mustRest" => ex.apply("rest", args)?,
        "mustInitial" => ex.apply("initial", args)?,
        "mustReverse" => ex.apply("reverse", args)?,
        "mustUniq" => ex.apply("uniq", args)?,
        "mustWithout" => ex.apply("without", args)?,
        "mustHas" => ex.apply("has", args)?,
        "mustCompact" => ex.apply("compact", args)?,
        "slice" | "mustSlice" => {
            ex.at_least(f, &args, 1)?;
            let mut it = args.into_iter();
            let list = it.next().unwrap_or(Value::Nil);
            let idx: Vec<Value> = it.collect();
            let Value::List(l) = &list else {
                let kind = list.kind_name();
                return ex.call_err(
                    f,
                    format!("list should be type of slice or array but {kind}"),
                );
            };
            let len = l.items.len();
            if len == 0 {
                return Ok(Ok(Value::Nil));
            }
            let start = idx.first().map_or(0, to_i64);
            let end = idx.get(1).map_or(len as i64, to_i64);
            let (Ok(a), Ok(b)) = (usize::try_from(start), usize::try_from(end)) else {
                return ex.call_err(
                    f,
                    format!("runtime error: slice bounds out of range [{start}:{end}]"),
                );
            };
            if b > len || a > b {
                return ex.call_err(
                    f,
                    format!("runtime error: slice bounds out of range [{start}:{end}]"),
                );
            }
            ex.charge((b - a) as u64)?;
            ex.mk_list(l.items.get(a..b).unwrap_or_default().to_vec())?
        }
        "chunk" | "mustChunk" => {
            let [size, list] = ex.fixed::<2>(f, args)?;
            let size = ex.i(&size)?;
            let Value::List(l) = &list else {
                let kind = list.kind_name();
                return ex.call_err(f, format!("Cannot chunk type {kind}"));
            };
            let len = l.items.len() as i64;
            // sprig: cs = floor((len-1)/size) + 1 chunks, computed in float64.
            if size == 0 {
                if len == 0 {
                    // floor(-1/0) = -Inf: make() with a negative length panics.
                    return ex.call_err(f, "runtime error: makeslice: len out of range");
                }
                return ex.call_err(f, "runtime error: makeslice: len out of range");
            }
            let cs = ((len - 1) as f64 / size as f64).floor() as i64 + 1;
            if cs == 0 {
                return Ok(Ok(ex.mk_list(Vec::new())?));
            }
            if cs < 0 || size < 0 {
                // make() of a negative length, or slicing with a negative chunk size: panics.
                return ex.call_err(f, "runtime error: makeslice: len out of range");
            }
            let size = size as usize;
            ex.charge(l.items.len() as u64 + cs as u64)?;
            let mut out = Vec::new();
            for c in l.items.chunks(size) {
                out.push(ex.mk_list(c.to_vec())?);
            }
            ex.mk_list(out)?
        }
        _ => return Ok(Err(args)),
    };
    Ok(Ok(v))
}
