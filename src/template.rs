//! STUB (replaced by the real engine): renders only `{{.A.B}}` chains.
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

pub struct Template(String);

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        Ok(Template(src.to_string()))
    }
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = self.0.as_str();
        while let Some(i) = rest.find("{{") {
            out.push_str(&rest[..i]);
            let j = rest[i..]
                .find("}}")
                .ok_or_else(|| TemplateError("unclosed action".into()))?;
            let expr = rest[i + 2..i + j].trim();
            let mut v = data;
            for k in expr
                .trim_start_matches('.')
                .split('.')
                .filter(|k| !k.is_empty())
            {
                v = v
                    .get(k)
                    .ok_or_else(|| TemplateError(format!("map has no entry for key {k:?}")))?;
            }
            match v {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[i + j + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
