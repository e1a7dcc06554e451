//! The tree and the parser: Go's `parse/node.go` and `parse/parse.go` (pipelines, commands,
//! variables, `if`/`with`/`range`/`else`, `define`/`template`/`block`, number literals).

use super::*;

#[derive(Clone, Copy, Default)]
pub(in crate::template) struct Span {
    pub(in crate::template) start: usize,
    pub(in crate::template) end: usize,
}

pub(in crate::template) enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Option<Vec<Node>>),
    With(Pipe, Vec<Node>, Option<Vec<Node>>),
    Range(Pipe, Vec<Node>, Option<Vec<Node>>),
    Break,
    Continue,
    /// `{{template "name" pipeline}}` (and the call half of `{{block}}`).
    Template(Span, String, Option<Pipe>),
}

pub(in crate::template) struct Pipe {
    pub(in crate::template) span: Span,
    pub(in crate::template) decl: Vec<String>,
    pub(in crate::template) is_assign: bool,
    pub(in crate::template) cmds: Vec<Cmd>,
}

pub(in crate::template) struct Cmd {
    pub(in crate::template) span: Span,
    pub(in crate::template) args: Vec<Arg>,
}

pub(in crate::template) enum Arg {
    Field(Span, Vec<String>),
    Variable(Span, String, Vec<String>),
    Dot(Span),
    Nil(Span),
    Bool(Span, bool),
    Int(Span, i64),
    Float(Span, f64),
    Str(Span, Rc<Zeroizing<Vec<u8>>>),
    Ident(Span, &'static str),
    Pipe(Span, Box<Pipe>),
    Chain(Span, Box<Arg>, Vec<String>),
}

impl Arg {
    pub(in crate::template) fn span(&self) -> Span {
        match self {
            Arg::Field(s, _)
            | Arg::Variable(s, _, _)
            | Arg::Dot(s)
            | Arg::Nil(s)
            | Arg::Bool(s, _)
            | Arg::Int(s, _)
            | Arg::Float(s, _)
            | Arg::Str(s, _)
            | Arg::Ident(s, _)
            | Arg::Pipe(s, _)
            | Arg::Chain(s, _, _) => *s,
        }
    }
}

pub(in crate::template) enum PErr {
    Syntax(usize, String),
    Depth,
}

pub(in crate::template) type PR<T> = Result<T, PErr>;

pub(in crate::template) struct Parser {
    pub(in crate::template) toks: Vec<Token>,
    pub(in crate::template) i: usize,
    /// Templates named by `{{define}}` / `{{block}}`.
    pub(in crate::template) defs: BTreeMap<String, Vec<Node>>,
    pub(in crate::template) vars: Vec<String>,
    pub(in crate::template) range_depth: usize,
    pub(in crate::template) depth: usize,
    pub(in crate::template) max_depth: usize,
}

pub(in crate::template) fn line_of(src: &str, pos: usize) -> usize {
    let upto = src.get(..pos).unwrap_or(src);
    1 + upto.bytes().filter(|b| *b == b'\n').count()
}

/// A parsed template: the main tree and the ones `{{define}}` and `{{block}}` named.
pub(in crate::template) struct Tree {
    pub(in crate::template) root: Vec<Node>,
    pub(in crate::template) defs: BTreeMap<String, Vec<Node>>,
}

/// Go's `parse.IsEmptyTree`: nothing but whitespace text.
pub(in crate::template) fn is_empty_tree(nodes: &[Node]) -> bool {
    nodes
        .iter()
        .all(|n| matches!(n, Node::Text(t) if t.bytes().all(|b| b.is_ascii_whitespace())))
}

pub(in crate::template) fn parse(
    name: &str,
    src: &str,
    limits: &Limits,
) -> Result<Tree, TemplateError> {
    let perr = |pos: usize, message: String| TemplateError::Parse {
        name: name.to_string(),
        line: line_of(src, pos),
        message,
    };
    let toks = lex(src).map_err(|(p, m)| perr(p, m))?;
    let mut p = Parser {
        toks,
        i: 0,
        defs: BTreeMap::new(),
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        max_depth: limits.max_depth,
    };
    let to_err = |e| match e {
        PErr::Syntax(pos, m) => perr(pos, m),
        PErr::Depth => TemplateError::DepthLimit {
            name: name.to_string(),
            limit: limits.max_depth,
        },
    };
    let root = p.root().map_err(to_err)?;
    // Go adds the main tree last (parse.Tree.add): a {{define}} of the template's own name
    // stands when the main tree is empty, and is a redefinition error otherwise.
    let mut defs = std::mem::take(&mut p.defs);
    let root = match defs.remove(name) {
        Some(d) if !is_empty_tree(&d) && is_empty_tree(&root) => d,
        Some(d) if !is_empty_tree(&d) => {
            return Err(perr(
                src.len(),
                format!("template: multiple definition of template {name:?}"),
            ));
        }
        _ => root,
    };
    Ok(Tree { root, defs })
}

pub(in crate::template) fn tok_desc(t: &Token) -> String {
    match &t.tok {
        Tok::Text(_) => "text".into(),
        Tok::LeftDelim => "<left delim>".into(),
        Tok::RightDelim => "<right delim>".into(),
        Tok::Space => "<space>".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Dot => "<.>".into(),
        Tok::Variable(v) => format!("<{v}>"),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Kw(_) => "keyword".into(),
        Tok::Bool(b) => format!("<{b}>"),
        Tok::Nil => "<nil>".into(),
        Tok::Number(n) => format!("<{n}>"),
        Tok::Str(_) | Tok::Char(_) => "literal".into(),
        Tok::LParen => "<(>".into(),
        Tok::RParen => "<)>".into(),
        Tok::Pipe => "<|>".into(),
        Tok::Declare => "<:=>".into(),
        Tok::Assign => "<=>".into(),
        Tok::Comma => "<,>".into(),
        Tok::Other(c) => format!("<{c}>"),
        Tok::Eof => "EOF".into(),
    }
}

impl Parser {
    pub(in crate::template) fn peek(&self) -> Token {
        self.toks.get(self.i).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            pos: 0,
            end: 0,
        })
    }
    pub(in crate::template) fn next(&mut self) -> Token {
        let t = self.peek();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }
    pub(in crate::template) fn skip_space(&mut self) {
        while matches!(
            self.toks.get(self.i),
            Some(Token {
                tok: Tok::Space,
                ..
            })
        ) {
            self.i += 1;
        }
    }
    pub(in crate::template) fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }
    pub(in crate::template) fn peek_non_space(&mut self) -> Token {
        self.skip_space();
        self.peek()
    }
    pub(in crate::template) fn err<T>(&self, pos: usize, m: impl Into<String>) -> PR<T> {
        Err(PErr::Syntax(pos, m.into()))
    }
    pub(in crate::template) fn enter(&mut self) -> PR<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(PErr::Depth);
        }
        Ok(())
    }
    pub(in crate::template) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub(in crate::template) fn root(&mut self) -> PR<Vec<Node>> {
        let mut out = Vec::new();
        loop {
            let t = self.peek();
            if t.tok == Tok::Eof {
                return Ok(out);
            }
            if t.tok == Tok::LeftDelim {
                let save = self.i;
                self.next();
                if self.peek_non_space().tok == Tok::Kw(Kw::Define) {
                    self.next_non_space();
                    self.define()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Item::Node(n) => out.push(n),
                Item::End(pos) => return self.err(pos, "unexpected {{end}}"),
                Item::Else(pos, _) => return self.err(pos, "unexpected {{else}}"),
            }
        }
    }

    /// Parses nodes until {{end}} / {{else}}.
    pub(in crate::template) fn item_list(&mut self) -> PR<(Vec<Node>, Item)> {
        let mut out = Vec::new();
        loop {
            let t = self.peek_non_space();
            if t.tok == Tok::Eof {
                return self.err(t.pos, "unexpected EOF");
            }
            match self.text_or_action()? {
                Item::Node(n) => out.push(n),
                other => return Ok((out, other)),
            }
        }
    }

    pub(in crate::template) fn text_or_action(&mut self) -> PR<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::LeftDelim => self.action(),
            _ => self.err(t.pos, format!("unexpected {} in input", tok_desc(&t))),
        }
    }

    pub(in crate::template) fn expect_right(&mut self, ctx: &str) -> PR<Token> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return self.err(t.pos, format!("unexpected {} in {ctx}", tok_desc(&t)));
        }
        Ok(t)
    }

    pub(in crate::template) fn action(&mut self) -> PR<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Kw(Kw::End) => {
                self.expect_right("end")?;
                Ok(Item::End(t.pos))
            }
            Tok::Kw(Kw::Else) => {
                let p = self.peek_non_space();
                match p.tok {
                    Tok::Kw(Kw::If) => Ok(Item::Else(t.pos, Some(Kw::If))),
                    Tok::Kw(Kw::With) => Ok(Item::Else(t.pos, Some(Kw::With))),
                    _ => {
                        self.expect_right("else")?;
                        Ok(Item::Else(t.pos, None))
                    }
                }
            }
            Tok::Kw(Kw::If) => self.control(Kw::If).map(Item::Node),
            Tok::Kw(Kw::With) => self.control(Kw::With).map(Item::Node),
            Tok::Kw(Kw::Range) => self.control(Kw::Range).map(Item::Node),
            Tok::Kw(Kw::Break) | Tok::Kw(Kw::Continue) => {
                let is_break = t.tok == Tok::Kw(Kw::Break);
                let word = if is_break { "break" } else { "continue" };
                self.expect_right(word)?;
                if self.range_depth == 0 {
                    return self.err(t.pos, format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                Ok(Item::Node(if is_break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Tok::Kw(Kw::Template) => {
                let (name, pipe) = self.template_clause("template", t.pos)?;
                let span = Span {
                    start: t.pos,
                    end: self.peek().pos,
                };
                Ok(Item::Node(Node::Template(span, name, pipe)))
            }
            Tok::Kw(Kw::Block) => {
                // {{block "name" pipeline}} body {{end}} = define + template.
                let (name, pipe) = self.template_clause("block", t.pos)?;
                let span = Span {
                    start: t.pos,
                    end: self.peek().pos,
                };
                let pipe =
                    pipe.ok_or(PErr::Syntax(t.pos, "missing value for block clause".into()))?;
                self.define_body(name.clone(), t.pos)?;
                Ok(Item::Node(Node::Template(span, name, Some(pipe))))
            }
            _ => {
                self.i = self.i.saturating_sub(1);
                let pipe = self.pipeline("command", true)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    /// The name and optional pipeline of `{{template "name" pipeline}}`; the right delimiter
    /// is consumed.
    pub(in crate::template) fn template_clause(
        &mut self,
        ctx: &str,
        pos: usize,
    ) -> PR<(String, Option<Pipe>)> {
        let t = self.next_non_space();
        let Tok::Str(name) = t.tok else {
            return self.err(pos, format!("unexpected {} in {ctx} clause", tok_desc(&t)));
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        if self.peek_non_space().tok == Tok::RightDelim {
            self.next_non_space();
            return Ok((name, None));
        }
        let pipe = self.pipeline(ctx, true)?;
        Ok((name, Some(pipe)))
    }

    /// `{{define "name"}}` (the keyword already read): its name, then its body up to `{{end}}`.
    pub(in crate::template) fn define(&mut self) -> PR<()> {
        let t = self.next_non_space();
        let Tok::Str(name) = t.tok else {
            return self.err(
                t.pos,
                format!("unexpected {} in define clause", tok_desc(&t)),
            );
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        self.expect_right("define clause")?;
        self.define_body(name, t.pos)
    }

    /// A template body up to `{{end}}` with a fresh variable scope (`$` only), stored as `name`.
    pub(in crate::template) fn define_body(&mut self, name: String, pos: usize) -> PR<()> {
        self.enter()?;
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let (body, next) = self.item_list()?;
        self.vars = vars;
        self.range_depth = range_depth;
        self.leave();
        match next {
            Item::End(_) => {}
            Item::Else(p, _) => return self.err(p, "unexpected {{else}}"),
            Item::Node(_) => return self.err(pos, "expected end"),
        }
        match self.defs.get(&name) {
            Some(old) if !is_empty_tree(old) && !is_empty_tree(&body) => self.err(
                pos,
                format!("template: multiple definition of template {name:?}"),
            ),
            Some(old) if !is_empty_tree(old) => Ok(()),
            _ => {
                self.defs.insert(name, body);
                Ok(())
            }
        }
    }

    pub(in crate::template) fn control(&mut self, kw: Kw) -> PR<Node> {
        self.enter()?;
        let mark = self.vars.len();
        let ctx = match kw {
            Kw::If => "if",
            Kw::With => "with",
            _ => "range",
        };
        let pipe = self.pipeline(ctx, true)?;
        if kw == Kw::Range {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if kw == Kw::Range {
            self.range_depth -= 1;
        }
        let else_list = match next {
            Item::End(_) => None,
            Item::Else(pos, chained) => match chained {
                Some(ck) if ck == kw && kw != Kw::Range => {
                    // "{{else if …}}" / "{{else with …}}": one {{end}} closes all.
                    self.skip_space();
                    self.next(); // the `if` / `with` keyword
                    Some(vec![self.control(kw)?])
                }
                Some(_) => return self.err(pos, format!("unexpected keyword after else in {ctx}")),
                None => {
                    let (l, n2) = self.item_list()?;
                    match n2 {
                        Item::End(_) => Some(l),
                        Item::Else(p2, _) => return self.err(p2, "expected end; found {{else}}"),
                        Item::Node(_) => return self.err(pos, "expected end"),
                    }
                }
            },
            Item::Node(_) => return self.err(pipe.span.start, "expected end"),
        };
        self.vars.truncate(mark);
        self.leave();
        Ok(match kw {
            Kw::If => Node::If(pipe, list, else_list),
            Kw::With => Node::With(pipe, list, else_list),
            _ => Node::Range(pipe, list, else_list),
        })
    }

    /// `end_delim`: true → ends at right delim, false → at right paren.
    pub(in crate::template) fn pipeline(&mut self, ctx: &str, end_delim: bool) -> PR<Pipe> {
        let start = self.peek_non_space().pos;
        let mut pipe = Pipe {
            span: Span { start, end: start },
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        // declarations
        let save = self.i;
        let v = self.peek_non_space();
        if let Tok::Variable(name) = &v.tok {
            self.next();
            let nx = self.peek_non_space();
            match nx.tok {
                Tok::Declare | Tok::Assign => {
                    pipe.is_assign = nx.tok == Tok::Assign;
                    self.next();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                }
                Tok::Comma => {
                    self.next();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if ctx != "range" {
                        return self.err(nx.pos, format!("too many declarations in {ctx}"));
                    }
                    let v2 = self.next_non_space();
                    let Tok::Variable(n2) = &v2.tok else {
                        return self.err(v2.pos, "range can only initialize variables");
                    };
                    let op = self.next_non_space();
                    match op.tok {
                        Tok::Declare | Tok::Assign => {
                            pipe.is_assign = op.tok == Tok::Assign;
                        }
                        _ => return self.err(op.pos, "range can only initialize variables"),
                    }
                    pipe.decl.push(n2.clone());
                    self.vars.push(n2.clone());
                }
                _ => self.i = save,
            }
        }
        loop {
            let t = self.next_non_space();
            match t.tok {
                Tok::RightDelim if end_delim => {
                    pipe.span.end = t.pos;
                    break;
                }
                Tok::RParen if !end_delim => {
                    pipe.span.end = t.pos;
                    break;
                }
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LParen => {
                    self.i = self.i.saturating_sub(1);
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.err(t.pos, format!("unexpected {} in {ctx}", tok_desc(&t))),
            }
        }
        if pipe.cmds.is_empty() {
            return self.err(start, format!("missing value for {ctx}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(
                Arg::Bool(..)
                | Arg::Dot(_)
                | Arg::Nil(_)
                | Arg::Int(..)
                | Arg::Float(..)
                | Arg::Str(..),
            ) = c.args.first()
            {
                return self.err(
                    c.span.start,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(pipe)
    }

    pub(in crate::template) fn command(&mut self) -> PR<Cmd> {
        let start = self.peek_non_space().pos;
        let mut cmd = Cmd {
            span: Span { start, end: start },
            args: Vec::new(),
        };
        loop {
            self.skip_space();
            if let Some(a) = self.operand()? {
                cmd.span.end = a.span().end;
                cmd.args.push(a);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RParen => {
                    self.i = self.i.saturating_sub(1);
                }
                Tok::Pipe => {}
                _ => return self.err(t.pos, format!("unexpected {} in operand", tok_desc(&t))),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err(start, "empty command");
        }
        Ok(cmd)
    }

    pub(in crate::template) fn operand(&mut self) -> PR<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        let mut end = node.span().end;
        while let Tok::Field(f) = self.peek().tok {
            end = self.peek().end;
            fields.push(f);
            self.next();
        }
        if fields.is_empty() {
            return Ok(Some(node));
        }
        let sp = Span {
            start: node.span().start,
            end,
        };
        Ok(Some(match node {
            Arg::Field(_, mut f) => {
                f.extend(fields);
                Arg::Field(sp, f)
            }
            Arg::Variable(_, n, mut f) => {
                f.extend(fields);
                Arg::Variable(sp, n, f)
            }
            Arg::Bool(..)
            | Arg::Str(..)
            | Arg::Int(..)
            | Arg::Float(..)
            | Arg::Nil(_)
            | Arg::Dot(_) => {
                return self.err(sp.start, "unexpected . after term");
            }
            other => Arg::Chain(sp, Box::new(other), fields),
        }))
    }

    pub(in crate::template) fn term(&mut self) -> PR<Option<Arg>> {
        let t = self.next_non_space();
        let sp = Span {
            start: t.pos,
            end: t.end,
        };
        Ok(Some(match t.tok {
            Tok::Ident(name) => match FUNCTIONS.iter().find(|f| **f == name) {
                Some(f) => Arg::Ident(sp, f),
                None => {
                    let why = OMITTED.iter().find(|(n, _)| *n == name).map(|(_, w)| *w);
                    return self.err(
                        t.pos,
                        match why {
                            Some(w) => format!("function \"{name}\" not supported: {w}"),
                            None => format!("function \"{name}\" not defined"),
                        },
                    );
                }
            },
            Tok::Dot => Arg::Dot(sp),
            Tok::Nil => Arg::Nil(sp),
            Tok::Variable(v) => {
                if !self.vars.contains(&v) {
                    return self.err(t.pos, format!("undefined variable \"{v}\""));
                }
                Arg::Variable(sp, v, Vec::new())
            }
            Tok::Field(f) => Arg::Field(sp, vec![f]),
            Tok::Bool(b) => Arg::Bool(sp, b),
            Tok::Char(c) => Arg::Int(sp, c),
            Tok::Number(text) => match parse_number(&text) {
                Ok(NumLit::Int(i)) => Arg::Int(sp, i),
                Ok(NumLit::Float(f)) => Arg::Float(sp, f),
                Err(m) => return self.err(t.pos, m),
            },
            Tok::Str(s) => Arg::Str(sp, Rc::new(Zeroizing::new(s))),
            Tok::LParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", false)?;
                self.leave();
                let end = p.span.end + 1;
                Arg::Pipe(Span { start: t.pos, end }, Box::new(p))
            }
            _ => {
                self.i = self.i.saturating_sub(1);
                return Ok(None);
            }
        }))
    }
}

pub(in crate::template) enum Item {
    Node(Node),
    End(usize),
    Else(usize, Option<Kw>),
}

pub(in crate::template) enum NumLit {
    Int(i64),
    Float(f64),
}

/// Go's number literal rules (strconv.ParseInt base 0 / ParseFloat).
pub(in crate::template) fn parse_number(text: &str) -> Result<NumLit, String> {
    let illegal = || format!("illegal number syntax: \"{text}\"");
    if text.ends_with('i') {
        return Err(format!("complex number \"{text}\" is not supported"));
    }
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r)
    } else if lower.len() > 1
        && lower.starts_with('0')
        && lower.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        (8, lower.get(1..).unwrap_or(""))
    } else {
        (10, lower.as_str())
    };
    let is_float_syntax =
        radix == 10 && digits.contains(['.', 'e']) || radix == 16 && digits.contains(['.', 'p']);
    if !is_float_syntax {
        let clean: String = digits.chars().filter(|c| *c != '_').collect();
        if clean.is_empty() || digits.starts_with('_') && radix == 10 {
            return Err(illegal());
        }
        let mag = u64::from_str_radix(&clean, radix).map_err(|_| illegal())?;
        return if neg {
            if mag <= i64::MAX as u64 + 1 {
                Ok(NumLit::Int((mag as i64).wrapping_neg()))
            } else {
                Err(format!("{text} overflows int"))
            }
        } else {
            i64::try_from(mag)
                .map(NumLit::Int)
                .map_err(|_| format!("{text} overflows int"))
        };
    }
    if radix != 10 {
        return Err(format!("hexadecimal float \"{text}\" is not supported"));
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let f: f64 = clean.parse().map_err(|_| illegal())?;
    if !f.is_finite() {
        return Err(illegal());
    }
    Ok(NumLit::Float(if neg { -f } else { f }))
}
