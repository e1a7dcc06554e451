//! sprig `dict.go`: `merge`/`mergeOverwrite` (mergo semantics), `dig`, `deepCopy`, `pluck`,
//! and `deepEqual` (reflect.DeepEqual) from `functions.go`.

use std::collections::BTreeMap;

use super::Answer;
use crate::template::{Exec, Value, XErr, XR, truth};

impl Exec<'_> {
    /// mergo's `Merge` (`overwrite` false) or `MergeWithOverwrite` of `src` into the dict `dst`,
    /// in place, as sprig 3.2.3 calls it on `map[string]interface{}`.
    /// `src` is a dict or the data map (`.`, a `map[string]string`, which mergo merges too).
    fn merge_into(&mut self, dst: usize, src: &Value, overwrite: bool, depth: usize) -> XR<()> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        let entries: Vec<(String, Value)> = self.map_entries(src).unwrap_or_default();
        self.charge(entries.len() as u64)?;
        for (k, s) in entries {
            let d = self.dicts.get(dst).and_then(|m| m.get(&k)).cloned();
            let set = match (&s, &d) {
                (Value::Nil, _) => overwrite,
                (Value::Dict(_) | Value::Root, Some(Value::Dict(di))) => {
                    if !matches!(s, Value::Dict(si) if si == *di) {
                        self.merge_into(*di, &s, overwrite, depth + 1)?;
                    }
                    false
                }
                // A map never replaces a value that is not one (mergo keeps it).
                (Value::Dict(_) | Value::Root, Some(dv)) if truth(dv, self) => false,
                (Value::List(_), Some(dv)) if !overwrite && truth(dv, self) => false,
                (_, None) => true,
                (_, Some(dv)) => overwrite || !truth(dv, self),
            };
            if set && let Some(m) = self.dicts.get_mut(dst) {
                m.insert(k, s);
            }
        }
        Ok(())
    }

    /// copystructure's deep copy (dicts and lists are copied, scalars shared).
    fn deep_copy(&mut self, v: &Value, depth: usize) -> XR<Value> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        Ok(match v {
            Value::List(l) => {
                let mut items = Vec::with_capacity(l.items.len());
                for x in &l.items {
                    items.push(self.deep_copy(x, depth + 1)?);
                }
                self.mk_list(items)?
            }
            Value::Dict(i) => {
                let entries: Vec<(String, Value)> = self
                    .dicts
                    .get(*i)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let mut m = BTreeMap::new();
                for (k, x) in entries {
                    let c = self.deep_copy(&x, depth + 1)?;
                    m.insert(k, c);
                }
                self.mk_dict(m)?
            }
            other => other.clone(),
        })
    }
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let v = match f {
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => {
            ex.at_least(f, &args, 1)?;
            let mut maps = Vec::with_capacity(args.len());
            for a in args {
                maps.push(ex.nil_as_map(a)?);
            }
            let args = maps;
            let mut ids = Vec::with_capacity(args.len());
            for a in &args {
                ids.push(ex.dict_arg(a, f)?);
            }
            let (dst, srcs) = ids.split_first().map_or((0, &[][..]), |(d, s)| (*d, s));
            for s in srcs {
                ex.merge_into(dst, &Value::Dict(*s), f.contains("Overwrite"), 0)?;
            }
            args.into_iter().next().unwrap_or(Value::Nil)
        }
        "deepCopy" | "mustDeepCopy" => {
            let [v] = ex.fixed::<1>(f, args)?;
            if matches!(v, Value::Nil) {
                return ex.call_err(f, "reflect: call of reflect.Value.Type on zero Value");
            }
            ex.deep_copy(&v, 0)?
        }
        "deepEqual" => {
            let [a, b] = ex.fixed::<2>(f, args)?;
            Value::Bool(ex.deep_eq(&a, &b, 0)?)
        }
        "pluck" => {
            ex.at_least(f, &args, 1)?;
            let mut it = args.into_iter();
            let key = ex.s(&it.next().unwrap_or(Value::Nil))?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let mut out = Vec::new();
            for d in it {
                let d = ex.nil_as_map(d)?;
                let id = ex.dict_arg(&d, f)?;
                ex.step()?;
                if let Some(v) = ex.dicts.get(id).and_then(|m| m.get(&key)) {
                    out.push(v.clone());
                }
            }
            ex.mk_list(out)?
        }
        "dig" => {
            if args.len() < 3 {
                return ex.call_err(f, "dig needs at least three arguments");
            }
            let mut args = args;
            let dict = args.pop().unwrap_or(Value::Nil);
            let default = args.pop().unwrap_or(Value::Nil);
            let Value::Dict(mut cur) = dict else {
                return ex.call_err(
                    f,
                    "interface conversion: interface {} is not map[string]interface {}",
                );
            };
            let mut keys = Vec::with_capacity(args.len());
            for k in &args {
                let Value::Str(s) = k else {
                    return ex.call_err(f, "interface conversion: interface {} is not string");
                };
                keys.push(String::from_utf8_lossy(s).into_owned());
            }
            let last = keys.len().saturating_sub(1);
            let mut found = default.clone();
            for (i, k) in keys.iter().enumerate() {
                ex.step()?;
                let Some(step) = ex.dicts.get(cur).and_then(|m| m.get(k)).cloned() else {
                    found = default;
                    break;
                };
                if i == last {
                    found = step;
                    break;
                }
                match step {
                    Value::Dict(next) => cur = next,
                    _ => {
                        return ex.call_err(
                            f,
                            "interface conversion: interface {} is not map[string]interface {}",
                        );
                    }
                }
            }
            found
        }
        _ => return Ok(Err(args)),
    };
    Ok(Ok(v))
}
