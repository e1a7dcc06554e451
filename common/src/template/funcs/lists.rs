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
            let oops = "runtime error: makeslice: len out of range";
            // sprig: cs = int(floor((len-1)/size) + 1) in float64; a zero size gives ±Inf or
            // NaN, which int() turns into a negative length on amd64: make() panics.
            if size == 0 {
                return ex.call_err(f, oops);
            }
            let cs = ((len - 1) as f64 / size as f64).floor() as i64 + 1;
            if cs < 0 {
                return ex.call_err(f, oops);
            }
            ex.charge(l.items.len() as u64 + cs as u64)?;
            let mut out = Vec::new();
            for i in 0..cs {
                let mut clen = size;
                if i == cs - 1 {
                    // floor(math.Mod(len, size)): the remainder takes the dividend's sign.
                    clen = (len as f64 % size as f64).floor() as i64;
                    if clen == 0 {
                        clen = size;
                    }
                }
                if clen < 0 {
                    return ex.call_err(f, oops);
                }
                let mut chunk = Vec::new();
                for j in 0..clen {
                    let ix = i.checked_mul(size).and_then(|x| x.checked_add(j));
                    let Some(item) = ix
                        .and_then(|x| usize::try_from(x).ok())
                        .and_then(|x| l.items.get(x))
                    else {
                        return ex.call_err(f, "reflect: slice index out of range");
                    };
                    chunk.push(item.clone());
                }
                out.push(ex.mk_list(chunk)?);
            }
            ex.mk_list(out)?
        }
        _ => return Ok(Err(args)),
    };
    Ok(Ok(v))
}
