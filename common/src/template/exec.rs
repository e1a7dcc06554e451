//! The executor: Go's `exec.go` (walking the tree, pipelines, field access, variables,
//! comparisons, truth) and the argument conversions of a function call.

use super::*;

impl<'a> Exec<'a> {
    pub(in crate::template) fn new(
        name: &'a str,
        src: &'a str,
        data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
        limits: &'a Limits,
        rng: &'a mut dyn CryptoRng,
        defs: &'a BTreeMap<String, Vec<Node>>,
        env: &'a Env<'a>,
    ) -> Self {
        let root = data
            .iter()
            .map(|(k, v)| (k.clone(), new_bytes(v.as_slice().to_vec())))
            .collect();
        Exec {
            name,
            src,
            limits,
            root,
            dicts: Vec::new(),
            vars: vec![("$".to_string(), Value::Root)],
            steps: 0,
            out: SecBuf::new(limits.max_output_bytes),
            cur: Span::default(),
            rng,
            defs,
            calls: 0,
            env,
        }
    }

    pub(in crate::template) fn random_fill(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
    }

    /// Uniform in `0..n` (`n > 0`), by rejection.
    pub(in crate::template) fn random_below(&mut self, n: u64) -> XR<u64> {
        if n == 0 {
            return Ok(0);
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.rng.next_u64();
            if x < zone {
                return Ok(x % n);
            }
            self.step()?;
        }
    }

    pub(in crate::template) fn to_error(&self, e: XErr) -> TemplateError {
        let name = self.name.to_string();
        match e {
            XErr::Output => TemplateError::OutputLimit {
                name,
                limit: self.limits.max_output_bytes,
            },
            XErr::Steps => TemplateError::StepLimit {
                name,
                limit: self.limits.max_steps,
            },
            XErr::Depth => TemplateError::DepthLimit {
                name,
                limit: self.limits.max_depth,
            },
            XErr::At(sp, message) => {
                let before = self.src.get(..sp.start).unwrap_or("");
                let line = 1 + before.bytes().filter(|b| *b == b'\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => sp.start - nl - 1,
                    None => sp.start,
                };
                let mut context: String = self.src.get(sp.start..sp.end).unwrap_or("").to_string();
                if context.len() > 120 {
                    let mut cut = 117;
                    while !context.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    context.truncate(cut);
                    context.push_str("...");
                }
                TemplateError::Exec {
                    name,
                    line,
                    col,
                    context,
                    message,
                }
            }
        }
    }

    pub(in crate::template) fn err<T>(&self, m: impl Into<String>) -> XR<T> {
        Err(XErr::At(self.cur, m.into()))
    }

    pub(in crate::template) fn call_err<T>(&self, f: &str, m: impl std::fmt::Display) -> XR<T> {
        Err(XErr::At(self.cur, format!("error calling {f}: {m}")))
    }

    pub(in crate::template) fn step(&mut self) -> XR<()> {
        self.charge(1)
    }

    pub(in crate::template) fn charge(&mut self, n: u64) -> XR<()> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.limits.max_steps {
            return Err(XErr::Steps);
        }
        Ok(())
    }

    pub(in crate::template) fn buf(&self) -> SecBuf {
        SecBuf::new(self.limits.max_output_bytes)
    }

    pub(in crate::template) fn check_len(&self, n: usize) -> XR<()> {
        if n > self.limits.max_output_bytes {
            return Err(XErr::Output);
        }
        Ok(())
    }

    pub(in crate::template) fn mk_list(&self, items: Vec<Value>) -> XR<Value> {
        let depth = 1 + items
            .iter()
            .map(|v| if let Value::List(l) = v { l.depth } else { 0 })
            .max()
            .unwrap_or(0);
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        Ok(Value::List(Rc::new(ListVal {
            items,
            depth,
            nil_slice: false,
        })))
    }

    /// Go's nil `[]interface {}`.
    pub(in crate::template) fn nil_list(&self) -> Value {
        Value::List(Rc::new(ListVal {
            items: Vec::new(),
            depth: 1,
            nil_slice: true,
        }))
    }

    pub(in crate::template) fn mk_dict(&mut self, m: BTreeMap<String, Value>) -> XR<Value> {
        self.step()?;
        self.dicts.push(m);
        Ok(Value::Dict(self.dicts.len() - 1))
    }

    /// Entries of a map value (Root or Dict), sorted by key.
    pub(in crate::template) fn map_entries(&self, v: &Value) -> Option<Vec<(String, Value)>> {
        match v {
            Value::Root => Some(
                self.root
                    .iter()
                    .map(|(k, b)| (k.clone(), Value::Str(b.clone())))
                    .collect(),
            ),
            Value::Dict(i) => Some(
                self.dicts
                    .get(*i)
                    .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            ),
            _ => None,
        }
    }

    pub(in crate::template) fn lookup_var(&self, name: &str) -> XR<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    pub(in crate::template) fn set_var(&mut self, name: &str, v: Value) -> XR<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    pub(in crate::template) fn walk(&mut self, dot: &Value, nodes: &[Node]) -> XR<Flow> {
        for n in nodes {
            self.step()?;
            match n {
                Node::Text(t) => self.out.push(t.as_bytes())?,
                Node::Action(p) => {
                    let v = self.eval_pipeline(dot, p)?;
                    if p.decl.is_empty() {
                        let mut out = std::mem::take(&mut self.out);
                        let r = match v {
                            Value::Nil => out.push(b"<no value>").map_err(XErr::from),
                            _ => self.fmt_v(&mut out, &v, 0),
                        };
                        self.out = out;
                        r?;
                    }
                }
                Node::If(p, list, else_list) | Node::With(p, list, else_list) => {
                    let is_with = matches!(n, Node::With(..));
                    let mark = self.vars.len();
                    let v = self.eval_pipeline(dot, p)?;
                    let t = truth(&v, self);
                    let flow = if t {
                        if is_with {
                            self.walk(&v, list)?
                        } else {
                            self.walk(dot, list)?
                        }
                    } else if let Some(e) = else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(p, list, else_list) => {
                    let mark = self.vars.len();
                    self.walk_range(dot, p, list, else_list.as_deref())?;
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Template(sp, name, pipe) => {
                    let v = match pipe {
                        Some(p) => self.eval_pipeline(dot, p)?,
                        None => Value::Nil,
                    };
                    self.cur = *sp;
                    let defs = self.defs;
                    let Some(body) = defs.get(name) else {
                        return self.err(format!("template {name:?} not defined"));
                    };
                    // Go stops at 100,000 nested calls; we stop at the nesting limit.
                    self.calls += 1;
                    if self.calls > self.limits.max_depth {
                        return Err(XErr::Depth);
                    }
                    let vars =
                        std::mem::replace(&mut self.vars, vec![("$".to_string(), v.clone())]);
                    let r = self.walk(&v, body);
                    self.vars = vars;
                    self.calls -= 1;
                    r?;
                }
            }
        }
        Ok(Flow::Normal)
    }

    pub(in crate::template) fn walk_range(
        &mut self,
        dot: &Value,
        p: &Pipe,
        list: &[Node],
        else_list: Option<&[Node]>,
    ) -> XR<()> {
        let v = self.eval_pipeline(dot, p)?;
        self.cur = p.span;
        let items: Vec<(Value, Value)> = match &v {
            Value::Nil => Vec::new(),
            Value::List(l) => l
                .items
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                .collect(),
            Value::Root | Value::Dict(_) => self
                .map_entries(&v)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, x)| (Value::str(&k), x))
                .collect(),
            Value::Int(n) => {
                if *n < 0 {
                    return self.err("range can't iterate over negative integer");
                }
                let n = u64::try_from(*n).unwrap_or(0);
                if self.steps.saturating_add(n) > self.limits.max_steps {
                    return Err(XErr::Steps);
                }
                (0..n as i64)
                    .map(|i| (Value::Int(i), Value::Int(i)))
                    .collect()
            }
            other => return self.err(format!("range can't iterate over {}", other.type_name())),
        };
        if items.is_empty() {
            if let Some(e) = else_list {
                self.walk(dot, e)?;
            }
            return Ok(());
        }
        let mark = self.vars.len();
        for (k, elem) in items {
            self.step()?;
            match p.decl.as_slice() {
                [] => {}
                [one] => {
                    if p.is_assign {
                        self.set_var(one, elem.clone())?;
                    } else if let Some(slot) = self.vars.get_mut(mark.wrapping_sub(1)) {
                        slot.1 = elem.clone();
                    }
                }
                [a, b, ..] => {
                    if p.is_assign {
                        self.set_var(a, k.clone())?;
                        self.set_var(b, elem.clone())?;
                    } else {
                        if let Some(slot) = self.vars.get_mut(mark.wrapping_sub(2)) {
                            slot.1 = k.clone();
                        }
                        if let Some(slot) = self.vars.get_mut(mark.wrapping_sub(1)) {
                            slot.1 = elem.clone();
                        }
                    }
                }
            }
            let flow = self.walk(&elem, list)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(())
    }

    pub(in crate::template) fn eval_pipeline(&mut self, dot: &Value, p: &Pipe) -> XR<Value> {
        let mut val: Option<Value> = None;
        for c in &p.cmds {
            let v = self.eval_command(dot, c, val.take())?;
            val = Some(v);
        }
        let v = val.unwrap_or(Value::Nil);
        for name in &p.decl {
            if p.is_assign {
                self.cur = p.span;
                self.set_var(name, v.clone())?;
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    pub(in crate::template) fn not_a_function(
        &self,
        first: &Arg,
        rest: &[Arg],
        fin: &Option<Value>,
    ) -> XR<()> {
        if !rest.is_empty() || fin.is_some() {
            let sp = first.span();
            let ctx = self.src.get(sp.start..sp.end).unwrap_or("");
            return self.err(format!("can't give argument to non-function {ctx}"));
        }
        Ok(())
    }

    pub(in crate::template) fn eval_command(
        &mut self,
        dot: &Value,
        c: &Cmd,
        fin: Option<Value>,
    ) -> XR<Value> {
        self.step()?;
        let Some(first) = c.args.first() else {
            self.cur = c.span;
            return self.err("empty command");
        };
        let rest = c.args.get(1..).unwrap_or(&[]);
        let has_args = !rest.is_empty() || fin.is_some();
        let call = has_args.then_some((dot, rest, fin.clone()));
        match first {
            Arg::Field(sp, ids) => {
                self.cur = *sp;
                self.eval_fields_call(dot.clone(), ids, call)
            }
            Arg::Chain(sp, node, ids) => {
                let base = self.eval_arg(dot, node)?;
                self.cur = *sp;
                self.eval_fields_call(base, ids, call)
            }
            Arg::Variable(sp, name, ids) => {
                self.cur = *sp;
                let base = self.lookup_var(name)?;
                if ids.is_empty() {
                    self.not_a_function(first, rest, &fin)?;
                    Ok(base)
                } else {
                    self.eval_fields_call(base, ids, call)
                }
            }
            Arg::Pipe(sp, p) => {
                self.cur = *sp;
                self.not_a_function(first, rest, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Ident(sp, f) => self.call(dot, *sp, f, rest, fin),
            Arg::Nil(sp) => {
                self.cur = *sp;
                self.err("nil is not a command")
            }
            lit => {
                self.cur = lit.span();
                self.not_a_function(first, rest, &fin)?;
                self.eval_arg(dot, lit)
            }
        }
    }

    pub(in crate::template) fn eval_arg(&mut self, dot: &Value, a: &Arg) -> XR<Value> {
        self.cur = a.span();
        match a {
            Arg::Field(_, ids) => self.eval_fields(dot.clone(), ids),
            Arg::Variable(_, name, ids) => {
                let b = self.lookup_var(name)?;
                self.eval_fields(b, ids)
            }
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Int(_, i) => Ok(Value::Int(*i)),
            Arg::Float(_, f) => Ok(Value::Float(*f)),
            Arg::Str(_, s) => Ok(Value::Str(s.clone())),
            Arg::Ident(sp, f) => self.call(dot, *sp, f, &[], None),
            Arg::Pipe(_, p) => self.eval_pipeline(dot, p),
            Arg::Chain(sp, node, ids) => {
                let b = self.eval_arg(dot, node)?;
                self.cur = *sp;
                self.eval_fields(b, ids)
            }
        }
    }

    pub(in crate::template) fn eval_fields(&mut self, base: Value, ids: &[String]) -> XR<Value> {
        self.eval_fields_call(base, ids, None)
    }

    /// A chain of fields, the last one given `call`'s arguments (`dot`, the argument nodes and
    /// the piped value) when it has any: a method of a Go value (`(semver "1.2.3").Major`,
    /// `(now).Format "2006"`) is called, a map key with arguments is an error.
    pub(in crate::template) fn eval_fields_call(
        &mut self,
        base: Value,
        ids: &[String],
        call: Option<(&Value, &[Arg], Option<Value>)>,
    ) -> XR<Value> {
        let has_args = call.is_some();
        let mut call = call;
        let mut v = base;
        let n = ids.len();
        for (i, id) in ids.iter().enumerate() {
            let last_args = has_args && i + 1 == n;
            v = match &v {
                Value::Obj(o) => {
                    let o = o.clone();
                    let here = self.cur;
                    let mut args = Vec::new();
                    if last_args && let Some((dot, rest, fin)) = call.take() {
                        for a in rest {
                            args.push(self.eval_arg(dot, a)?);
                        }
                        args.extend(fin);
                    }
                    self.cur = here;
                    self.step()?;
                    match o.method(id, &args) {
                        Some(r) => r,
                        None => {
                            return self.err(format!(
                                "can't evaluate field {id} in type {}",
                                o.type_name()
                            ));
                        }
                    }
                }
                Value::Root | Value::Dict(_) => {
                    if last_args {
                        return self.err(format!("{id} is not a method but has arguments"));
                    }
                    match &v {
                        Value::Root => self.root.get(id).map(|b| Value::Str(b.clone())),
                        Value::Dict(d) => self.dicts.get(*d).and_then(|m| m.get(id)).cloned(),
                        _ => None,
                    }
                    .unwrap_or(Value::Nil)
                }
                Value::Nil => Value::Nil,
                other => {
                    return self.err(format!(
                        "can't evaluate field {id} in type {}",
                        other.type_name()
                    ));
                }
            };
        }
        if n == 0 && has_args {
            return self.err("can't give argument to non-function");
        }
        Ok(v)
    }

    pub(in crate::template) fn call(
        &mut self,
        dot: &Value,
        sp: Span,
        f: &'static str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> XR<Value> {
        self.step()?;
        if f == "and" || f == "or" {
            let total = args.len() + usize::from(fin.is_some());
            if total == 0 {
                self.cur = sp;
                return self.err(format!(
                    "wrong number of args for {f}: want at least 1 got 0"
                ));
            }
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, a)?;
                if truth(&v, self) == (f == "or") {
                    return Ok(v);
                }
            }
            if let Some(x) = fin {
                v = x;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(dot, a)?);
        }
        if let Some(x) = fin {
            vals.push(x);
        }
        self.cur = sp;
        // Charge proportionally to the bytes a function touches.
        let in_bytes: usize = vals
            .iter()
            .map(|v| if let Value::Str(s) = v { s.len() } else { 0 })
            .sum();
        self.charge((in_bytes / 256) as u64)?;
        let r = self.apply(f, vals)?;
        if let Value::Str(s) = &r {
            self.check_len(s.len())?;
            self.charge((s.len() / 256) as u64)?;
        }
        Ok(r)
    }

    // ── argument helpers ──

    pub(in crate::template) fn fixed<const N: usize>(
        &self,
        f: &str,
        args: Vec<Value>,
    ) -> XR<[Value; N]> {
        let got = args.len();
        <[Value; N]>::try_from(args)
            .or_else(|_| self.err(format!("wrong number of args for {f}: want {N} got {got}")))
    }

    pub(in crate::template) fn at_least(&self, f: &str, args: &[Value], n: usize) -> XR<()> {
        if args.len() < n {
            return self.err(format!(
                "wrong number of args for {f}: want at least {n} got {}",
                args.len()
            ));
        }
        Ok(())
    }

    pub(in crate::template) fn s(&self, v: &Value) -> XR<Bytes> {
        match v {
            Value::Str(s) => Ok(s.clone()),
            Value::Nil => self.err("invalid value; expected string"),
            o => self.err(format!(
                "wrong type for value; expected string; got {}",
                o.type_name()
            )),
        }
    }

    pub(in crate::template) fn i(&self, v: &Value) -> XR<i64> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::Nil => self.err("invalid value; expected int"),
            o => self.err(format!(
                "wrong type for value; expected int; got {}",
                o.type_name()
            )),
        }
    }

    pub(in crate::template) fn b(&self, v: &Value) -> XR<bool> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Nil => self.err("invalid value; expected bool"),
            o => self.err(format!(
                "wrong type for value; expected bool; got {}",
                o.type_name()
            )),
        }
    }

    /// text/template passes a missing value (nil) to a map parameter as the nil map: reads see
    /// an empty map. `set` is the one writer, and it fails as Go's assignment to a nil map.
    pub(in crate::template) fn nil_as_map(&mut self, v: Value) -> XR<Value> {
        match v {
            Value::Nil => self.mk_dict(BTreeMap::new()),
            other => Ok(other),
        }
    }

    pub(in crate::template) fn dict_arg(&self, v: &Value, f: &str) -> XR<usize> {
        match v {
            Value::Dict(i) => Ok(*i),
            Value::Nil => self.err("invalid value; expected map[string]interface {}"),
            o => {
                let _ = f;
                self.err(format!(
                    "wrong type for value; expected map[string]interface {{}}; got {}",
                    o.type_name()
                ))
            }
        }
    }

    pub(in crate::template) fn list_arg(&self, v: &Value, f: &str) -> XR<Rc<ListVal>> {
        match v {
            Value::List(l) => Ok(l.clone()),
            o => self.call_err(f, format!("Cannot find {f} on type {}", o.type_name())),
        }
    }

    /// sprig `strval`.
    pub(in crate::template) fn strval(&mut self, v: &Value) -> XR<Bytes> {
        match v {
            Value::Str(s) => Ok(s.clone()),
            other => {
                let mut b = self.buf();
                self.fmt_v(&mut b, other, 0)?;
                Ok(Rc::new(b.into_inner()))
            }
        }
    }

    /// sprig `strslice`.
    pub(in crate::template) fn strslice(&mut self, v: &Value) -> XR<Vec<Bytes>> {
        match v {
            Value::Nil => Ok(Vec::new()),
            Value::List(l) => {
                self.charge(l.items.len() as u64)?;
                let mut out = Vec::with_capacity(l.items.len());
                for x in &l.items {
                    if !matches!(x, Value::Nil) {
                        out.push(self.strval(x)?);
                    }
                }
                Ok(out)
            }
            other => Ok(vec![self.strval(other)?]),
        }
    }

    pub(in crate::template) fn deep_eq(&mut self, a: &Value, b: &Value, depth: usize) -> XR<bool> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        Ok(match (a, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x.as_slice() == y.as_slice(),
            (Value::List(x), Value::List(y)) => {
                // reflect.DeepEqual: a nil slice is not equal to an empty one.
                if x.items.len() != y.items.len() || x.nil_slice != y.nil_slice {
                    return Ok(false);
                }
                for (p, q) in x.items.iter().zip(y.items.iter()) {
                    if !self.deep_eq(p, q, depth + 1)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Root, Value::Root) => true,
            (Value::Dict(x), Value::Dict(y)) if x == y => true,
            (Value::Dict(_), Value::Dict(_)) => {
                let (Some(ea), Some(eb)) = (self.map_entries(a), self.map_entries(b)) else {
                    return Ok(false);
                };
                if ea.len() != eb.len() {
                    return Ok(false);
                }
                for ((ka, va), (kb, vb)) in ea.iter().zip(eb.iter()) {
                    if ka != kb || !self.deep_eq(va, vb, depth + 1)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    pub(in crate::template) fn go_eq(&self, a: &Value, b: &Value) -> XR<bool> {
        Ok(match (a, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Nil, _) | (_, Value::Nil) => false,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x.as_slice() == y.as_slice(),
            // Go's `==` on the struct (time.Time: instant, monotonic reading and *Location) or
            // on the pointer (*semver.Version).
            (Value::Obj(x), Value::Obj(y)) => x.same(y),
            (Value::List(_) | Value::Dict(_) | Value::Root, _)
            | (_, Value::List(_) | Value::Dict(_) | Value::Root) => {
                return self.call_err(
                    "eq",
                    format!(
                        "non-comparable types {} and {}",
                        a.type_name(),
                        b.type_name()
                    ),
                );
            }
            _ => return self.call_err("eq", "incompatible types for comparison"),
        })
    }

    pub(in crate::template) fn go_lt(&self, f: &str, a: &Value, b: &Value) -> XR<bool> {
        Ok(match (a, b) {
            (Value::Int(x), Value::Int(y)) => x < y,
            (Value::Float(x), Value::Float(y)) => x < y,
            (Value::Str(x), Value::Str(y)) => x.as_slice() < y.as_slice(),
            (
                Value::Int(_) | Value::Float(_) | Value::Str(_),
                Value::Int(_) | Value::Float(_) | Value::Str(_),
            ) => {
                return self.call_err(f, "incompatible types for comparison");
            }
            _ => return self.call_err(f, "invalid type for comparison"),
        })
    }
}
