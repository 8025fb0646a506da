//! The SAM template as the deploy contract test reads it: every `AWS::Serverless::Function`, its
//! binary (`Metadata.BuildProperties.Binary`) and exactly the environment the template gives it
//! (`Globals.Function.Environment.Variables`, then the function's own, which win), with
//! `!Ref` / `!GetAtt` / `!Sub` resolved against parameter values and local resources.
//!
//! CloudFormation short tags (`!Ref X`) arrive from `serde_yaml` 0.9 as `Value::Tagged`; the
//! long forms (`{"Ref": X}`, `Fn::GetAtt`, `Fn::Sub`) are read too. Anything else (`!If`,
//! `!Join`, a resource without a local counterpart, a parameter without a value) is an
//! unresolved reference, reported by function, variable and expression.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

/// One function of the template.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub binary: String,
    /// The function's `FunctionName` expression.
    pub name: Value,
    pub memory_mb: u64,
    pub timeout_secs: u64,
    /// Globals first, then the function's own variables (the function's win).
    pub env: BTreeMap<String, Value>,
    /// Its `HttpApi` events, `METHOD path`.
    pub routes: std::collections::BTreeSet<String>,
}

/// The `HttpApi` events of a function's properties, `METHOD path`.
fn http_routes(props: &Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if let Some(events) = get(props, "Events").and_then(Value::as_mapping) {
        for event in events.values() {
            if get(event, "Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let p = get(event, "Properties");
            let method = p.and_then(|p| get(p, "Method")).and_then(Value::as_str);
            let path = p.and_then(|p| get(p, "Path")).and_then(Value::as_str);
            if let (Some(m), Some(path)) = (method, path) {
                out.insert(format!("{} {path}", m.to_uppercase()));
            }
        }
    }
    out
}

/// What the template declares that the environment depends on.
#[derive(Debug, Clone)]
pub struct Template {
    /// Parameter name -> its `Default`, if any.
    pub parameter_defaults: BTreeMap<String, Option<Value>>,
    pub functions: Vec<FunctionSpec>,
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(Value::String(key.to_owned()))
}

fn number(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

fn variables(v: Option<&Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(vars) = v
        .and_then(|e| get(e, "Variables"))
        .and_then(Value::as_mapping)
    {
        for (k, val) in vars {
            if let Some(k) = k.as_str() {
                out.insert(k.to_owned(), val.clone());
            }
        }
    }
    out
}

impl Template {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("template: {e}"))?;
        let mut parameter_defaults = BTreeMap::new();
        if let Some(params) = get(&doc, "Parameters").and_then(Value::as_mapping) {
            for (name, p) in params {
                if let Some(name) = name.as_str() {
                    parameter_defaults.insert(name.to_owned(), get(p, "Default").cloned());
                }
            }
        }
        let globals = get(&doc, "Globals").and_then(|g| get(g, "Function"));
        let global_env = variables(globals.and_then(|g| get(g, "Environment")));
        let mut functions = Vec::new();
        let resources = get(&doc, "Resources")
            .and_then(Value::as_mapping)
            .ok_or("template: no Resources")?;
        for (id, res) in resources {
            if get(res, "Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let id = id.as_str().unwrap_or_default().to_owned();
            let binary = get(res, "Metadata")
                .and_then(|m| get(m, "BuildProperties"))
                .and_then(|b| get(b, "Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{id}: no Metadata.BuildProperties.Binary"))?
                .to_owned();
            let props = get(res, "Properties").cloned().unwrap_or(Value::Null);
            let mut env = global_env.clone();
            env.extend(variables(get(&props, "Environment")));
            functions.push(FunctionSpec {
                binary,
                name: get(&props, "FunctionName")
                    .cloned()
                    .unwrap_or_else(|| Value::String(id.clone())),
                memory_mb: number(get(&props, "MemorySize"))
                    .or_else(|| number(globals.and_then(|g| get(g, "MemorySize"))))
                    .unwrap_or(128),
                timeout_secs: number(get(&props, "Timeout"))
                    .or_else(|| number(globals.and_then(|g| get(g, "Timeout"))))
                    .unwrap_or(3),
                env,
                routes: http_routes(&props),
                logical_id: id,
            });
        }
        Ok(Self {
            parameter_defaults,
            functions,
        })
    }
}

/// What references resolve to.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// Parameter and pseudo-parameter values, and `Ref` of the resources with a local
    /// counterpart.
    pub refs: BTreeMap<String, String>,
    /// `Logical.Attribute` -> value (`!GetAtt`, `${Logical.Attribute}`).
    pub attributes: BTreeMap<String, String>,
}

/// A scalar as CloudFormation renders it in an environment variable.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    serde_yaml::to_string(v).map_or_else(|_| format!("{v:?}"), |s| s.trim().replace('\n', " "))
}

impl Resolver {
    /// Parameter values: `tests` first, else the template's `Default`; a parameter with
    /// neither is left out (a `!Ref` to it is then unresolved).
    pub fn with_parameters(template: &Template, tests: &BTreeMap<&str, String>) -> Self {
        let mut refs = BTreeMap::new();
        for (name, default) in &template.parameter_defaults {
            if let Some(v) = tests.get(name.as_str()) {
                refs.insert(name.clone(), v.clone());
            } else if let Some(v) = default.as_ref().and_then(scalar) {
                refs.insert(name.clone(), v);
            }
        }
        Self {
            refs,
            attributes: BTreeMap::new(),
        }
    }

    fn get_ref(&self, name: &str) -> Result<String, String> {
        self.refs
            .get(name)
            .cloned()
            .ok_or_else(|| format!("!Ref {name}: no value (no parameter value, no local resource)"))
    }

    fn get_att(&self, path: &str) -> Result<String, String> {
        self.attributes
            .get(path)
            .cloned()
            .ok_or_else(|| format!("!GetAtt {path}: no local counterpart"))
    }

    fn sub(&self, text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = after
                .find('}')
                .ok_or_else(|| format!("!Sub {text:?}: unterminated ${{"))?;
            let name = &after[..end];
            let value = if let Some(v) = vars.get(name) {
                Ok(v.clone())
            } else if name.contains('.') {
                self.get_att(name)
            } else {
                self.get_ref(name)
            }
            .map_err(|e| format!("!Sub {text:?}: {e}"))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn function(&self, name: &str, arg: &Value) -> Result<String, String> {
        match (name, arg) {
            ("Ref", Value::String(target)) => self.get_ref(target),
            ("GetAtt" | "Fn::GetAtt", Value::String(path)) => self.get_att(path),
            ("GetAtt" | "Fn::GetAtt", Value::Sequence(parts)) if parts.len() == 2 => {
                let parts: Vec<String> = parts.iter().filter_map(scalar).collect();
                self.get_att(&parts.join("."))
            }
            ("Sub" | "Fn::Sub", Value::String(text)) => self.sub(text, &BTreeMap::new()),
            ("Sub" | "Fn::Sub", Value::Sequence(parts)) if parts.len() == 2 => {
                let text = parts[0]
                    .as_str()
                    .ok_or("!Sub: the template is not a string")?;
                let mut vars = BTreeMap::new();
                for (k, v) in parts[1].as_mapping().ok_or("!Sub: variables not a map")? {
                    let k = k.as_str().ok_or("!Sub: variable name")?.to_owned();
                    vars.insert(k, self.resolve(v)?);
                }
                self.sub(text, &vars)
            }
            _ => Err(format!(
                "{name} {}: not resolved by this test",
                describe(arg)
            )),
        }
    }

    /// The string CloudFormation would put in an environment variable for `v`.
    pub fn resolve(&self, v: &Value) -> Result<String, String> {
        if let Some(s) = scalar(v) {
            return Ok(s);
        }
        match v {
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                self.function(tag.trim_start_matches('!'), &tagged.value)
            }
            Value::Mapping(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().ok_or("empty map")?;
                self.function(k.as_str().unwrap_or_default(), arg)
            }
            other => Err(format!(
                "{}: not a scalar or a known function",
                describe(other)
            )),
        }
    }

    /// Every variable of `f` resolved, or every unresolved one named (`Function: VAR: why`).
    pub fn environment(&self, f: &FunctionSpec) -> Result<BTreeMap<String, String>, Vec<String>> {
        let mut env = BTreeMap::new();
        let mut unresolved = Vec::new();
        for (var, expr) in &f.env {
            match self.resolve(expr) {
                Ok(v) => {
                    env.insert(var.clone(), v);
                }
                Err(why) => {
                    unresolved.push(format!("{} ({}): {var}: {why}", f.logical_id, f.binary));
                }
            }
        }
        if unresolved.is_empty() {
            Ok(env)
        } else {
            Err(unresolved)
        }
    }
}
