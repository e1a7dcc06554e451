//! Go's `fmt` as templates reach it (`print`, `printf` verbs and flags, `%v` of every value)
//! and the JSON/YAML encoders of `toJson`/`toYaml`.

use super::*;

impl Exec<'_> {
    /// fmt's `%v`.
    pub(in crate::template) fn fmt_v(&mut self, b: &mut SecBuf, v: &Value, depth: usize) -> XR<()> {
        self.fmt_verb(b, v, 'v', Spec::default(), depth)
    }

    pub(in crate::template) fn fmt_verb(
        &mut self,
        b: &mut SecBuf,
        v: &Value,
        verb: char,
        sp: Spec,
        depth: usize,
    ) -> XR<()> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        if verb == 'v' && sp.sharp {
            return self.fmt_go_syntax(b, v, sp, depth);
        }
        if let Value::Obj(o) = v {
            // fmt calls the String method, then formats the string with the verb.
            let s = Value::str(&o.string());
            return self.fmt_verb(b, &s, verb, sp, depth);
        }
        match v {
            // A nil element of a list or map is a nil interface: fmt writes <nil> for any verb,
            // without padding (printValue's `writeString`; only a nil argument is padded).
            Value::Nil if depth > 0 => b.push(b"<nil>")?,
            Value::Nil => match verb {
                'v' => pad(b, sp, b"<nil>")?,
                _ => self.bad_verb(b, verb, v, sp)?,
            },
            Value::Bool(x) => match verb {
                'v' | 't' => pad(b, sp, if *x { b"true" } else { b"false" })?,
                _ => self.bad_verb(b, verb, v, sp)?,
            },
            Value::Int(n) => match verb {
                'v' | 'd' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 10, verb, false),
                )?,
                'b' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 2, verb, false),
                )?,
                'o' | 'O' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 8, verb, false),
                )?,
                'x' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 16, verb, false),
                )?,
                'X' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 16, verb, true),
                )?,
                'c' => {
                    let c = u32::try_from(*n)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('\u{fffd}');
                    let mut t = [0u8; 4];
                    pad(b, sp, c.encode_utf8(&mut t).as_bytes())?;
                }
                'q' => {
                    let c = u32::try_from(*n)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('\u{fffd}');
                    let mut t = [0u8; 4];
                    let mut o = Vec::new();
                    go_quote_into(&mut o, c.encode_utf8(&mut t).as_bytes(), '\'', sp.plus);
                    pad(b, sp, &o)?;
                }
                'U' => pad(b, sp, format!("U+{:04X}", *n).as_bytes())?,
                _ => self.bad_verb(b, verb, v, sp)?,
            },
            Value::Float(f) => {
                // fmt's pp.fmtFloat: the strconv format and default precision of each verb.
                let (conv, default_prec) = match verb {
                    'v' => ('g', None),
                    'b' | 'g' | 'G' | 'x' | 'X' => (verb, None),
                    'e' | 'E' => (verb, Some(6)),
                    'f' | 'F' => ('f', Some(6)),
                    _ => return self.bad_verb(b, verb, v, sp),
                };
                let prec = sp.prec.or(default_prec);
                let mut s = match conv {
                    'g' | 'G' => go_fmt_g(*f, prec, conv == 'G'),
                    'e' | 'E' => go_fmt_e(*f, prec.unwrap_or(6), conv == 'E'),
                    'x' | 'X' => go_fmt_x(*f, prec, conv == 'X'),
                    'b' => go_fmt_b(*f),
                    _ => go_fmt_f(*f, prec.unwrap_or(6)),
                };
                if sp.sharp && conv != 'b' && f.is_finite() {
                    s = go_float_sharp(&s, conv, prec);
                }
                if !s.starts_with(['-', '+']) && !f.is_nan() {
                    if sp.plus {
                        s.insert(0, '+');
                    } else if sp.space {
                        s.insert(0, ' ');
                    }
                }
                if sp.zero && !sp.minus && f.is_finite() {
                    let w = sp.width.unwrap_or(0);
                    if w > s.len() {
                        let (sign, num) = if s.starts_with(['-', '+', ' ']) {
                            s.split_at(1)
                        } else {
                            ("", s.as_str())
                        };
                        b.push_str(sign)?;
                        for _ in 0..(w - s.len()) {
                            b.push(b"0")?;
                        }
                        b.push_str(num)?;
                        return Ok(());
                    }
                }
                pad(b, sp, s.as_bytes())?;
            }
            Value::Str(s) => match verb {
                'v' | 's' => {
                    let t = truncate_runes(s, sp.prec);
                    pad(b, sp, t)?;
                }
                'q' => {
                    let t = truncate_runes(s, sp.prec);
                    if sp.sharp && can_backquote(t) {
                        let mut o = scratch(t.len());
                        o.push(b'`');
                        o.extend_from_slice(t);
                        o.push(b'`');
                        pad(b, sp, &o)?;
                    } else {
                        let mut o = scratch(t.len());
                        go_quote_into(&mut o, t, '"', sp.plus);
                        pad(b, sp, &o)?;
                    }
                }
                'x' | 'X' => {
                    let t = match sp.prec {
                        Some(p) => s.get(..p.min(s.len())).unwrap_or(&[]),
                        None => s.as_slice(),
                    };
                    let digits: &[u8; 16] = if verb == 'x' {
                        b"0123456789abcdef"
                    } else {
                        b"0123456789ABCDEF"
                    };
                    let mut o = scratch(t.len());
                    for (i, byte) in t.iter().enumerate() {
                        if sp.space && i > 0 {
                            o.push(b' ');
                        }
                        if sp.sharp && (sp.space || i == 0) {
                            o.extend_from_slice(if verb == 'x' { b"0x" } else { b"0X" });
                        }
                        o.push(digits.get(usize::from(byte >> 4)).copied().unwrap_or(b'0'));
                        o.push(digits.get(usize::from(byte & 15)).copied().unwrap_or(b'0'));
                    }
                    pad(b, sp, &o)?;
                }
                _ => self.bad_verb(b, verb, v, sp)?,
            },
            Value::List(l) => {
                b.push(b"[")?;
                for (i, x) in l.items.iter().enumerate() {
                    if i > 0 {
                        b.push(b" ")?;
                    }
                    self.fmt_verb(b, x, verb, sp, depth + 1)?;
                }
                b.push(b"]")?;
            }
            Value::Dict(_) | Value::Root => {
                let entries = self.map_entries(v).unwrap_or_default();
                b.push(b"map[")?;
                for (i, (k, x)) in entries.iter().enumerate() {
                    if i > 0 {
                        b.push(b" ")?;
                    }
                    // fmt formats keys with the verb too (`%c` of a key is `%!c(string=k)`).
                    self.fmt_verb(b, &Value::str(k), verb, sp, depth + 1)?;
                    b.push(b":")?;
                    self.fmt_verb(b, x, verb, sp, depth + 1)?;
                }
                b.push(b"]")?;
            }
            // Handled above, through the String method.
            Value::Obj(_) => {}
        }
        Ok(())
    }

    /// `%#v`: Go syntax (`"quoted"`, `[]interface {}{1, "a"}`, `map[string]interface {}{"k":1}`).
    fn fmt_go_syntax(&mut self, b: &mut SecBuf, v: &Value, sp: Spec, depth: usize) -> XR<()> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        let elem = |ex: &mut Self, b: &mut SecBuf, x: &Value| -> XR<()> {
            match x {
                Value::Nil => b.push(b"interface {}(nil)").map_err(XErr::from),
                _ => ex.fmt_go_syntax(b, x, Spec::default(), depth + 1),
            }
        };
        match v {
            Value::Str(s) => {
                let mut o = scratch(s.len());
                go_quote_into(&mut o, s, '"', false);
                pad(b, sp, &o)?;
            }
            Value::List(l) => {
                b.push(b"[]interface {}{")?;
                for (i, x) in l.items.iter().enumerate() {
                    if i > 0 {
                        b.push(b", ")?;
                    }
                    elem(self, b, x)?;
                }
                b.push(b"}")?;
            }
            Value::Dict(_) | Value::Root => {
                let entries = self.map_entries(v).unwrap_or_default();
                b.push(if matches!(v, Value::Root) {
                    b"map[string]string{"
                } else {
                    b"map[string]interface {}{"
                })?;
                for (i, (k, x)) in entries.iter().enumerate() {
                    if i > 0 {
                        b.push(b", ")?;
                    }
                    let mut o = scratch(k.len());
                    go_quote_into(&mut o, k.as_bytes(), '"', false);
                    b.push(&o)?;
                    b.push(b":")?;
                    elem(self, b, x)?;
                }
                b.push(b"}")?;
            }
            other => {
                let sp = Spec { sharp: false, ..sp };
                self.fmt_verb(b, other, 'v', sp, depth + 1)?;
            }
        }
        Ok(())
    }

    /// fmt's `%!verb(type=value)`: the value printed with `%v` and the verb's flags, width and
    /// precision (as `badVerb` leaves them set).
    pub(in crate::template) fn bad_verb(
        &mut self,
        b: &mut SecBuf,
        verb: char,
        v: &Value,
        sp: Spec,
    ) -> XR<()> {
        b.push(b"%!")?;
        b.push_char(verb)?;
        b.push(b"(")?;
        if matches!(v, Value::Nil) {
            b.push(b"<nil>")?;
        } else {
            b.push_str(v.type_name())?;
            b.push(b"=")?;
            self.fmt_verb(b, v, 'v', Spec { sharp: false, ..sp }, 1)?;
        }
        b.push(b")")?;
        Ok(())
    }

    /// fmt.Sprintf subset.
    pub(in crate::template) fn sprintf(
        &mut self,
        b: &mut SecBuf,
        f: &[u8],
        args: &[Value],
    ) -> XR<()> {
        let mut i = 0usize;
        let mut argi = 0usize;
        let n = f.len();
        while i < n {
            let lit_end = f
                .get(i..)
                .and_then(|r| r.iter().position(|c| *c == b'%'))
                .map_or(n, |p| i + p);
            b.push(f.get(i..lit_end).unwrap_or(&[]))?;
            i = lit_end;
            if i >= n {
                break;
            }
            i += 1;
            self.step()?;
            let mut sp = Spec::default();
            while let Some(c) = f.get(i) {
                match c {
                    b'#' => sp.sharp = true,
                    b'0' => sp.zero = !sp.minus,
                    b'+' => sp.plus = true,
                    b'-' => {
                        sp.minus = true;
                        sp.zero = false;
                    }
                    b' ' => sp.space = true,
                    _ => break,
                }
                i += 1;
            }
            // width
            if f.get(i) == Some(&b'*') {
                i += 1;
                match args.get(argi) {
                    Some(Value::Int(w)) => {
                        argi += 1;
                        let a = usize::try_from(w.unsigned_abs()).unwrap_or(usize::MAX);
                        if a > FMT_MAX_NUM {
                            b.push(b"%!(BADWIDTH)")?;
                        } else {
                            sp.width = Some(a);
                            if *w < 0 {
                                sp.minus = true;
                                sp.zero = false;
                            }
                        }
                    }
                    Some(_) => {
                        argi += 1;
                        b.push(b"%!(BADWIDTH)")?;
                    }
                    None => b.push(b"%!(BADWIDTH)")?,
                }
            } else {
                let (num, ni, ok) = parse_fmt_num(f, i);
                if !ok {
                    i = n;
                } else {
                    i = ni;
                    sp.width = num;
                }
            }
            // precision
            if f.get(i) == Some(&b'.') {
                i += 1;
                if f.get(i) == Some(&b'*') {
                    i += 1;
                    match args.get(argi) {
                        Some(Value::Int(p)) if *p >= 0 && (*p as u64) <= FMT_MAX_NUM as u64 => {
                            argi += 1;
                            sp.prec = Some(*p as usize);
                        }
                        Some(_) => {
                            argi += 1;
                            b.push(b"%!(BADPREC)")?;
                        }
                        None => b.push(b"%!(BADPREC)")?,
                    }
                } else {
                    let (num, ni, ok) = parse_fmt_num(f, i);
                    if !ok {
                        i = n;
                    } else {
                        i = ni;
                        sp.prec = Some(num.unwrap_or(0));
                    }
                }
            }
            if i >= n {
                b.push(b"%!(NOVERB)")?;
                break;
            }
            let (c, len) = decode_rune(f.get(i..).unwrap_or(&[]));
            i += len.max(1);
            let verb = c.unwrap_or('\u{fffd}');
            if verb == '%' {
                b.push(b"%")?;
                continue;
            }
            match args.get(argi) {
                None => {
                    b.push(b"%!")?;
                    b.push_char(verb)?;
                    b.push(b"(MISSING)")?;
                }
                Some(a) => {
                    argi += 1;
                    if verb == 'T' {
                        pad(b, sp, a.type_name().as_bytes())?;
                    } else {
                        self.fmt_verb(b, a, verb, sp, 0)?;
                    }
                }
            }
        }
        if argi < args.len() {
            b.push(b"%!(EXTRA ")?;
            for (k, a) in args.iter().skip(argi).enumerate() {
                if k > 0 {
                    b.push(b", ")?;
                }
                if matches!(a, Value::Nil) {
                    b.push(b"<nil>")?;
                } else {
                    b.push_str(a.type_name())?;
                    b.push(b"=")?;
                    self.fmt_v(b, a, 0)?;
                }
            }
            b.push(b")")?;
        }
        Ok(())
    }

    /// fmt.Sprint (`ln`: Sprintln).
    pub(in crate::template) fn sprint(
        &mut self,
        b: &mut SecBuf,
        args: &[Value],
        ln: bool,
    ) -> XR<()> {
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                let prev_str = args.get(i - 1).is_some_and(strval_is_string);
                if ln || (!prev_str && !strval_is_string(a)) {
                    b.push(b" ")?;
                }
            }
            self.fmt_v(b, a, 0)?;
        }
        if ln {
            b.push(b"\n")?;
        }
        Ok(())
    }

    pub(in crate::template) fn json(
        &mut self,
        b: &mut SecBuf,
        v: &Value,
        html: bool,
        indent: Option<usize>,
        depth: usize,
    ) -> XR<bool> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        let nl = |b: &mut SecBuf, lvl: usize| -> Result<(), Overflow> {
            b.push(b"\n")?;
            for _ in 0..lvl {
                b.push(b"  ")?;
            }
            Ok(())
        };
        match v {
            Value::Obj(o) => match o.json() {
                Some(s) => b.push_str(&s)?,
                None => return Ok(false),
            },
            Value::Nil => b.push(b"null")?,
            Value::Bool(x) => b.push(if *x { b"true" } else { b"false" })?,
            Value::Int(i) => b.push_str(&i.to_string())?,
            Value::Float(f) => match json_float(*f) {
                Some(s) => b.push_str(&s)?,
                None => return Ok(false),
            },
            Value::Str(s) => {
                let mut o = scratch(s.len());
                push_json_str(&mut o, s, html);
                b.push(&o)?;
            }
            Value::List(l) if l.nil_slice => b.push(b"null")?,
            Value::List(l) => {
                b.push(b"[")?;
                for (i, x) in l.items.iter().enumerate() {
                    if i > 0 {
                        b.push(b",")?;
                    }
                    if let Some(lvl) = indent {
                        nl(b, lvl + 1)?;
                    }
                    if !self.json(b, x, html, indent.map(|l| l + 1), depth + 1)? {
                        return Ok(false);
                    }
                }
                if let (Some(lvl), false) = (indent, l.items.is_empty()) {
                    nl(b, lvl)?;
                }
                b.push(b"]")?;
            }
            Value::Dict(_) | Value::Root => {
                let entries = self.map_entries(v).unwrap_or_default();
                b.push(b"{")?;
                for (i, (k, x)) in entries.iter().enumerate() {
                    if i > 0 {
                        b.push(b",")?;
                    }
                    if let Some(lvl) = indent {
                        nl(b, lvl + 1)?;
                    }
                    let mut o = scratch(k.len());
                    push_json_str(&mut o, k.as_bytes(), html);
                    b.push(&o)?;
                    b.push(if indent.is_some() { b": " } else { b":" })?;
                    if !self.json(b, x, html, indent.map(|l| l + 1), depth + 1)? {
                        return Ok(false);
                    }
                }
                if let (Some(lvl), false) = (indent, entries.is_empty()) {
                    nl(b, lvl)?;
                }
                b.push(b"}")?;
            }
        }
        Ok(true)
    }

    pub(in crate::template) fn yaml_scalar(&mut self, b: &mut SecBuf, v: &Value) -> XR<()> {
        match v {
            Value::Nil => b.push(b"null")?,
            Value::Bool(x) => b.push(if *x { b"true" } else { b"false" })?,
            Value::Int(i) => b.push_str(&i.to_string())?,
            Value::Float(f) => {
                if f.is_nan() {
                    b.push(b".nan")?
                } else if f.is_infinite() {
                    b.push(if *f > 0.0 { b".inf" as &[u8] } else { b"-.inf" })?
                } else {
                    b.push_str(&go_fmt_g(*f, None, false))?
                }
            }
            Value::Str(s) => {
                let mut o = scratch(s.len());
                push_yaml_str(&mut o, s);
                b.push(&o)?;
            }
            Value::List(_) => b.push(b"[]")?,
            Value::Dict(_) | Value::Root => b.push(b"{}")?,
            Value::Obj(o) => {
                // sigs.k8s.io/yaml goes through JSON: the value's JSON string.
                let s = o.json().unwrap_or_default();
                let s = s.trim_matches('"');
                let mut o = scratch(s.len());
                push_yaml_str(&mut o, s.as_bytes());
                b.push(&o)?;
            }
        }
        Ok(())
    }

    pub(in crate::template) fn yaml_nonempty_coll(&self, v: &Value) -> bool {
        match v {
            Value::List(l) => !l.items.is_empty(),
            Value::Dict(_) | Value::Root => truth(v, self),
            _ => false,
        }
    }

    pub(in crate::template) fn yaml_block(
        &mut self,
        b: &mut SecBuf,
        v: &Value,
        indent: usize,
        inline_first: bool,
        depth: usize,
    ) -> XR<()> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        let spaces = |b: &mut SecBuf, n: usize| -> Result<(), Overflow> {
            for _ in 0..n {
                b.push(b" ")?;
            }
            Ok(())
        };
        if !self.yaml_nonempty_coll(v) {
            self.yaml_scalar(b, v)?;
            b.push(b"\n")?;
            return Ok(());
        }
        match v {
            Value::List(l) => {
                for (i, x) in l.items.iter().enumerate() {
                    if !(i == 0 && inline_first) {
                        spaces(b, indent)?;
                    }
                    b.push(b"- ")?;
                    if self.yaml_nonempty_coll(x) {
                        self.yaml_block(b, x, indent + 2, true, depth + 1)?;
                    } else {
                        self.yaml_scalar(b, x)?;
                        b.push(b"\n")?;
                    }
                }
            }
            _ => {
                let entries = self.map_entries(v).unwrap_or_default();
                for (i, (k, x)) in entries.iter().enumerate() {
                    if !(i == 0 && inline_first) {
                        spaces(b, indent)?;
                    }
                    let mut o = scratch(k.len());
                    push_yaml_str(&mut o, k.as_bytes());
                    b.push(&o)?;
                    b.push(b":")?;
                    match x {
                        Value::List(_) if self.yaml_nonempty_coll(x) => {
                            b.push(b"\n")?;
                            self.yaml_block(b, x, indent, false, depth + 1)?;
                        }
                        Value::Dict(_) | Value::Root if self.yaml_nonempty_coll(x) => {
                            b.push(b"\n")?;
                            self.yaml_block(b, x, indent + 2, false, depth + 1)?;
                        }
                        _ => {
                            b.push(b" ")?;
                            self.yaml_scalar(b, x)?;
                            b.push(b"\n")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(in crate::template) fn json_to_value(
        &mut self,
        j: serde_json::Value,
        depth: usize,
    ) -> XR<Value> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        Ok(match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::Str(new_bytes(s.into_bytes())),
            serde_json::Value::Array(a) => {
                let mut items = Vec::with_capacity(a.len());
                for x in a {
                    items.push(self.json_to_value(x, depth + 1)?);
                }
                self.mk_list(items)?
            }
            serde_json::Value::Object(o) => {
                let mut m = BTreeMap::new();
                for (k, x) in o {
                    let v = self.json_to_value(x, depth + 1)?;
                    m.insert(k, v);
                }
                self.mk_dict(m)?
            }
        })
    }
}

pub(in crate::template) fn parse_fmt_num(f: &[u8], mut i: usize) -> (Option<usize>, usize, bool) {
    let mut num: usize = 0;
    let mut any = false;
    while let Some(c) = f.get(i).filter(|c| c.is_ascii_digit()) {
        if num > FMT_MAX_NUM {
            return (None, f.len(), false);
        }
        num = num * 10 + usize::from(c - b'0');
        any = true;
        i += 1;
    }
    (if any { Some(num) } else { None }, i, true)
}

pub(in crate::template) fn truncate_runes(s: &[u8], prec: Option<usize>) -> &[u8] {
    match prec {
        None => s,
        Some(p) => match runes(s).get(p) {
            Some((st, _, _)) => s.get(..*st).unwrap_or(s),
            None => s,
        },
    }
}

/// Pad to the width (in runes) like fmt.
pub(in crate::template) fn pad(b: &mut SecBuf, sp: Spec, s: &[u8]) -> Result<(), Overflow> {
    let w = sp.width.unwrap_or(0);
    let n = if w > 0 { rune_count(s) } else { 0 };
    if n >= w {
        return b.push(s);
    }
    let fill: &[u8] = if sp.zero && !sp.minus { b"0" } else { b" " };
    if sp.minus {
        b.push(s)?;
        for _ in n..w {
            b.push(b" ")?;
        }
    } else {
        for _ in n..w {
            b.push(fill)?;
        }
        b.push(s)?;
    }
    Ok(())
}

/// fmt's fmtInteger (the result still gets `pad` with zero-padding disabled).
pub(in crate::template) fn fmt_integer(
    sp: Spec,
    n: i64,
    base: u32,
    verb: char,
    upper: bool,
) -> Vec<u8> {
    let neg = n < 0;
    let u = n.unsigned_abs();
    let mut digits: Vec<u8> = Vec::new();
    let mut x = u;
    let table: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    loop {
        digits.push(
            table
                .get((x % u64::from(base)) as usize)
                .copied()
                .unwrap_or(b'0'),
        );
        x /= u64::from(base);
        if x == 0 {
            break;
        }
    }
    digits.reverse();
    let mut prec = 0usize;
    if let Some(p) = sp.prec {
        prec = p;
        if p == 0 && u == 0 {
            digits.clear();
        }
    } else if sp.zero
        && !sp.minus
        && let Some(w) = sp.width
    {
        prec = w;
        if neg || sp.plus || sp.space {
            prec = prec.saturating_sub(1);
        }
    }
    let mut out = Vec::new();
    if neg {
        out.push(b'-');
    } else if sp.plus {
        out.push(b'+');
    } else if sp.space {
        out.push(b' ');
    }
    if verb == 'O' {
        out.extend_from_slice(b"0o");
    } else if sp.sharp {
        match base {
            16 => out.extend_from_slice(if upper { b"0X" } else { b"0x" }),
            2 => out.extend_from_slice(b"0b"),
            8 if digits.first() != Some(&b'0') => out.push(b'0'),
            _ => {}
        }
    }
    // precision zero padding happens after the prefix (Go puts it before the prefix for
    // zero flag; identical for the common cases).
    out.extend(std::iter::repeat_n(b'0', prec.saturating_sub(digits.len())));
    out.extend_from_slice(&digits);
    out
}
