//! A small arithmetic-expression language for objectives given on a command line:
//! numbers, variables, `+ - * / ^`, unary minus, parentheses, the constants `pi` and `e`,
//! and the functions `sin cos tan exp ln log10 sqrt abs tanh min max`.

use thiserror::Error;

/// Parse or evaluation failure.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExprError {
    /// Unexpected character or token at a byte offset.
    #[error("unexpected `{found}` at position {pos}")]
    Unexpected {
        /// What was found.
        found: String,
        /// Byte offset.
        pos: usize,
    },
    /// Input ended too early.
    #[error("unexpected end of expression")]
    End,
    /// A function name that is not supported, or wrong number of arguments.
    #[error("unknown function `{0}` or wrong number of arguments")]
    Function(String),
    /// A variable without a value.
    #[error("unknown variable `{0}`")]
    Variable(String),
}

/// Parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Literal.
    Num(f64),
    /// Variable reference.
    Var(String),
    /// Negation.
    Neg(Box<Expr>),
    /// Binary operation (`+ - * / ^`).
    Bin(char, Box<Expr>, Box<Expr>),
    /// Function call.
    Call(String, Vec<Expr>),
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Expr {
    /// Parse text.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
        };
        let e = p.sum()?;
        p.skip_ws();
        if p.pos < p.s.len() {
            return Err(p.unexpected());
        }
        Ok(e)
    }

    /// Names of the variables used (constants excluded), first use first.
    pub fn variables(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<String>) {
        match self {
            Expr::Num(_) => {}
            Expr::Var(v) => {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Expr::Neg(a) => a.collect(out),
            Expr::Bin(_, a, b) => {
                a.collect(out);
                b.collect(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.collect(out)),
        }
    }

    /// Evaluate with `lookup` giving variable values.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<f64>) -> Result<f64, ExprError> {
        Ok(match self {
            Expr::Num(v) => *v,
            Expr::Var(v) => lookup(v).ok_or_else(|| ExprError::Variable(v.clone()))?,
            Expr::Neg(a) => -a.eval(lookup)?,
            Expr::Bin(op, a, b) => {
                let (x, y) = (a.eval(lookup)?, b.eval(lookup)?);
                match op {
                    '+' => x + y,
                    '-' => x - y,
                    '*' => x * y,
                    '/' => x / y,
                    _ => x.powf(y),
                }
            }
            Expr::Call(f, args) => {
                let v: Vec<f64> = args
                    .iter()
                    .map(|a| a.eval(lookup))
                    .collect::<Result<_, _>>()?;
                match (f.as_str(), v.as_slice()) {
                    ("sin", [x]) => x.sin(),
                    ("cos", [x]) => x.cos(),
                    ("tan", [x]) => x.tan(),
                    ("exp", [x]) => x.exp(),
                    ("ln", [x]) => x.ln(),
                    ("log10", [x]) => x.log10(),
                    ("sqrt", [x]) => x.sqrt(),
                    ("abs", [x]) => x.abs(),
                    ("tanh", [x]) => x.tanh(),
                    ("min", [x, y]) => x.min(*y),
                    ("max", [x, y]) => x.max(*y),
                    _ => return Err(ExprError::Function(f.clone())),
                }
            }
        })
    }
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }
    fn unexpected(&self) -> ExprError {
        match self.s.get(self.pos) {
            Some(c) => ExprError::Unexpected {
                found: (*c as char).to_string(),
                pos: self.pos,
            },
            None => ExprError::End,
        }
    }
    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.product()?;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            self.pos += 1;
            e = Expr::Bin(c as char, Box::new(e), Box::new(self.product()?));
        }
        Ok(e)
    }
    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.unary()?;
        while let Some(c @ (b'*' | b'/')) = self.peek() {
            self.pos += 1;
            e = Expr::Bin(c as char, Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }
    fn unary(&mut self) -> Result<Expr, ExprError> {
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some(b'+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }
    fn power(&mut self) -> Result<Expr, ExprError> {
        let base = self.atom()?;
        if self.peek() == Some(b'^') {
            self.pos += 1;
            // right-associative, binds tighter than unary minus on the left
            let exp = self.unary()?;
            return Ok(Expr::Bin('^', Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }
    fn atom(&mut self) -> Result<Expr, ExprError> {
        let Some(c) = self.peek() else {
            return Err(ExprError::End);
        };
        if c == b'(' {
            self.pos += 1;
            let e = self.sum()?;
            if self.peek() != Some(b')') {
                return Err(self.unexpected());
            }
            self.pos += 1;
            return Ok(e);
        }
        let start = self.pos;
        if c.is_ascii_digit() || c == b'.' {
            while self.pos < self.s.len()
                && (self.s[self.pos].is_ascii_digit() || self.s[self.pos] == b'.')
            {
                self.pos += 1;
            }
            if self.pos < self.s.len() && matches!(self.s[self.pos], b'e' | b'E') {
                let save = self.pos;
                self.pos += 1;
                if self.pos < self.s.len() && matches!(self.s[self.pos], b'+' | b'-') {
                    self.pos += 1;
                }
                let digits = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                if self.pos == digits {
                    self.pos = save;
                }
            }
            let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
            return text
                .parse()
                .map(Expr::Num)
                .map_err(|_| ExprError::Unexpected {
                    found: text.into(),
                    pos: start,
                });
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while self.pos < self.s.len()
                && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
            {
                self.pos += 1;
            }
            let name = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
            if self.peek() == Some(b'(') {
                self.pos += 1;
                let mut args = vec![self.sum()?];
                while self.peek() == Some(b',') {
                    self.pos += 1;
                    args.push(self.sum()?);
                }
                if self.peek() != Some(b')') {
                    return Err(self.unexpected());
                }
                self.pos += 1;
                return Ok(Expr::Call(name, args));
            }
            return Ok(match name.as_str() {
                "pi" => Expr::Num(std::f64::consts::PI),
                "e" => Expr::Num(std::f64::consts::E),
                _ => Expr::Var(name),
            });
        }
        Err(self.unexpected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_functions() {
        let e = Expr::parse("-x^2 + 3*(y - 1)/2 + max(1, sqrt(16)) + 1e-1").expect("parse");
        let v = e.eval(&|n| match n {
            "x" => Some(3.0),
            "y" => Some(5.0),
            _ => None,
        });
        assert_eq!(v, Ok(-9.0 + 6.0 + 4.0 + 0.1));
        assert_eq!(e.variables(), vec!["x".to_string(), "y".to_string()]);
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(Expr::parse("1 +"), Err(ExprError::End));
        assert!(matches!(
            Expr::parse("2 $ 3"),
            Err(ExprError::Unexpected { pos: 2, .. })
        ));
        let e = Expr::parse("foo(1)").expect("parse");
        assert_eq!(e.eval(&|_| None), Err(ExprError::Function("foo".into())));
        assert_eq!(
            Expr::parse("z").expect("parse").eval(&|_| None),
            Err(ExprError::Variable("z".into()))
        );
    }
}
