//! Input schemas generated from the API's OpenAPI document, so a tool that is one REST call takes
//! exactly what that call takes: its path ids, its query parameters or its JSON body, with the
//! API's types, formats, enums, limits and required fields. The tool catalog adds only what an
//! LLM client needs on top (a description where the API has none, an extra required argument, a
//! subset of the arguments).
//!
//! The result is committed as `generated/tool_schemas.json` (read at start-up, no document needed
//! at run time); `tests::the_tool_schemas_are_current` fails when it differs from what the
//! current document gives, and `scripts/gen-api-types.sh` rewrites it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::tools::{Args, Call, Input, ToolSpec};

/// The committed schemas, by tool name.
pub const GENERATED: &str = include_str!("generated/tool_schemas.json");

/// How deep `$ref`s are followed; the request bodies nest two or three levels.
const MAX_DEPTH: usize = 8;

/// Every API-backed tool's input schema, by tool name.
pub fn generate(openapi: &Value, specs: &[ToolSpec]) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (Input::Api(args), Call::Rest { method, path }) = (&spec.input, &spec.call) else {
            continue;
        };
        let schema = tool_schema(openapi, method.as_str(), path, args)
            .map_err(|e| format!("tool {}: {e}", spec.name))?;
        out.insert(spec.name.to_owned(), schema);
    }
    Ok(out)
}

fn tool_schema(openapi: &Value, method: &str, path: &str, args: &Args) -> Result<Value, String> {
    let (api_path, operation) = operation(openapi, method, path)?;
    let mut properties = Map::new();
    let mut required: Vec<String> = Vec::new();
    // Path ids keep the tool's names (`contact_id`), by position in the path.
    let tool_names = placeholders(path);
    for (tool_name, api_name) in tool_names.iter().zip(placeholders(&api_path)) {
        let param = parameters(operation)
            .find(|p| p["in"] == "path" && p["name"] == api_name.as_str())
            .ok_or_else(|| format!("{method} {api_path} documents no path parameter {api_name}"))?;
        properties.insert(
            tool_name.clone(),
            simplify(openapi, &param_schema(param), 0)?,
        );
        required.push(tool_name.clone());
    }
    for param in parameters(operation).filter(|p| p["in"] == "query") {
        let name = param["name"].as_str().unwrap_or_default().to_owned();
        properties.insert(name.clone(), simplify(openapi, &param_schema(param), 0)?);
        if param["required"] == true {
            required.push(name);
        }
    }
    if let Some(body) = operation.pointer("/requestBody/content/application~1json/schema") {
        let body = simplify(openapi, body, 0)?;
        for (name, schema) in body["properties"].as_object().into_iter().flatten() {
            properties.insert(name.clone(), schema.clone());
        }
        for name in body["required"].as_array().into_iter().flatten() {
            required.extend(name.as_str().map(str::to_owned));
        }
    }
    if let Some(only) = args.only {
        for name in only {
            if !properties.contains_key(*name) {
                return Err(format!("the API takes no argument {name:?}"));
            }
        }
        properties.retain(|name, _| only.contains(&name.as_str()));
        required.retain(|name| only.contains(&name.as_str()));
    }
    for (name, description) in args.describe {
        let prop = properties
            .get_mut(*name)
            .ok_or_else(|| format!("describes {name:?}, which the API does not take"))?;
        prop["description"] = json!(description);
    }
    for name in args.required {
        if !properties.contains_key(*name) {
            return Err(format!("requires {name:?}, which the API does not take"));
        }
        required.push((*name).to_owned());
    }
    for (name, prop) in &mut properties {
        if prop.get("description").is_none() {
            prop["description"] = json!(default_description(name));
        }
    }
    required.sort();
    required.dedup();
    Ok(json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    }))
}

/// The operation for `method` at the documented path that matches the tool's path template
/// (placeholder names may differ: the API says `{id}`, the tool `{contact_id}`).
fn operation<'a>(
    openapi: &'a Value,
    method: &str,
    path: &str,
) -> Result<(String, &'a Value), String> {
    let shape = |p: &str| -> Vec<String> {
        p.split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    let wanted = shape(path);
    openapi["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(p, _)| shape(p) == wanted)
        .find_map(|(p, ops)| {
            ops.get(method.to_ascii_lowercase())
                .map(|op| (p.clone(), op))
        })
        .ok_or_else(|| format!("the API documents no {method} {path}"))
}

fn placeholders(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

fn parameters(operation: &Value) -> impl Iterator<Item = &Value> {
    operation["parameters"].as_array().into_iter().flatten()
}

/// A parameter's schema with the parameter's own description.
fn param_schema(param: &Value) -> Value {
    let mut schema = param["schema"].clone();
    if let Some(description) = param.get("description") {
        schema["description"] = description.clone();
    }
    schema
}

/// `contact_id` → "The contact's id"; anything else → its name in words.
fn default_description(name: &str) -> String {
    match name.strip_suffix("_id") {
        Some(resource) => format!("The {}'s id", resource.replace('_', " ")),
        None => name.replace('_', " "),
    }
}

/// A schema an MCP client (and [`crate::server::validate`]) reads: references inlined, OpenAPI
/// 3.1's nullable types (`["string", "null"]`, `oneOf` with `null`) reduced to the value's type
/// (a tool argument is simply left out when there is nothing to say), and only the keywords an
/// input schema uses.
fn simplify(openapi: &Value, schema: &Value, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("the schema nests deeper than tool arguments should".into());
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("unsupported reference {reference}"))?;
        let target = openapi
            .pointer(&format!("/components/schemas/{name}"))
            .ok_or_else(|| format!("dangling reference {reference}"))?;
        let mut resolved = simplify(openapi, target, depth + 1)?;
        if let Some(description) = schema.get("description") {
            resolved["description"] = description.clone();
        }
        return Ok(resolved);
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(variants) = schema.get(combinator).and_then(Value::as_array) {
            let variants: Vec<Value> = variants
                .iter()
                .filter(|v| v.get("type") != Some(&json!("null")))
                .map(|v| simplify(openapi, v, depth + 1))
                .collect::<Result<_, _>>()?;
            let mut out = match <[Value; 1]>::try_from(variants) {
                Ok([only]) => only,
                Err(variants) => {
                    let mut out = json!({ combinator: variants });
                    // One JSON type across the variants: say it, so a client can check it.
                    let types: Vec<&Value> =
                        variants.iter().filter_map(|v| v.get("type")).collect();
                    if types.len() == variants.len() && types.windows(2).all(|w| w[0] == w[1]) {
                        out["type"] = types[0].clone();
                    }
                    out
                }
            };
            copy(schema, &mut out, &["description"]);
            return Ok(out);
        }
    }
    let mut out = Map::new();
    match schema.get("type") {
        Some(Value::Array(types)) => {
            let types: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
            if let [only] = types.as_slice() {
                out.insert("type".into(), (*only).clone());
            }
        }
        Some(ty) => {
            out.insert("type".into(), ty.clone());
        }
        None => {}
    }
    let mut out = Value::Object(out);
    copy(
        schema,
        &mut out,
        &[
            "description",
            "enum",
            "minimum",
            "maximum",
            "minLength",
            "maxLength",
            "required",
            "additionalProperties",
        ],
    );
    // Integer widths and byte formats say nothing to a client; uuid and date-time do.
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && matches!(format, "uuid" | "date-time" | "date" | "email" | "uri")
    {
        out["format"] = json!(format);
    }
    if let Some(enumeration) = out.get_mut("enum").and_then(Value::as_array_mut) {
        enumeration.retain(|v| !v.is_null());
    }
    if let Some(items) = schema.get("items") {
        out["items"] = simplify(openapi, items, depth + 1)?;
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let mut props = Map::new();
        for (name, prop) in properties {
            props.insert(name.clone(), simplify(openapi, prop, depth + 1)?);
        }
        out["properties"] = Value::Object(props);
    }
    Ok(out)
}

fn copy(from: &Value, to: &mut Value, keys: &[&str]) {
    for key in keys {
        if let Some(value) = from.get(*key) {
            to[*key] = value.clone();
        }
    }
}

/// The committed schemas, parsed once.
pub fn committed() -> BTreeMap<String, Value> {
    serde_json::from_str(GENERATED).expect("generated/tool_schemas.json is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../web/src/generated/openapi.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("the API document's copy"))
            .expect("valid JSON")
    }

    /// The API crate's test keeps the document's copy current; this keeps the tools' schemas
    /// current with it. `VENTROS_UPDATE_GENERATED=1` rewrites the file instead.
    #[test]
    fn the_tool_schemas_are_current() {
        let generated = generate(&document(), &crate::tools::specs()).expect("generates");
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/generated/tool_schemas.json"
        );
        if std::env::var_os("VENTROS_UPDATE_GENERATED").is_some() {
            std::fs::write(file, &text).expect("writes the schemas");
            return;
        }
        assert!(
            GENERATED == text,
            "mcp/src/generated/tool_schemas.json is stale: run scripts/gen-api-types.sh"
        );
    }

    #[test]
    fn an_argument_the_api_does_not_take_is_an_error() {
        let mut specs = crate::tools::specs();
        let spec = specs.iter_mut().find(|s| s.name == "get_contact").unwrap();
        spec.input = Input::Api(Args {
            describe: &[("nickname", "Not an API parameter")],
            ..Args::default()
        });
        let err = generate(&document(), &specs).unwrap_err();
        assert!(err.contains("nickname"), "{err}");
    }

    #[test]
    fn nullable_types_and_references_are_reduced() {
        let doc = json!({"components": {"schemas": {"Kind": {"type": "string", "enum": ["a", "b", null]}}}});
        let s = simplify(&doc, &json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Kind"}], "description": "k"}), 0).unwrap();
        assert_eq!(
            s,
            json!({"type": "string", "enum": ["a", "b"], "description": "k"})
        );
        let s = simplify(
            &doc,
            &json!({"type": ["integer", "null"], "format": "int32", "minimum": 1}),
            0,
        )
        .unwrap();
        assert_eq!(s, json!({"type": "integer", "minimum": 1}));
    }
}
