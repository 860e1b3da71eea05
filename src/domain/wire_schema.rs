//! OpenAPI schemas of closed sets of strings: the wire enums, as the admin
//! API's document describes them.

use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

/// A string schema allowing only `values`.
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(values.into_iter().map(str::to_owned)))
}

/// `one_of(values)` or null (an optional field sent as `null`).
pub fn nullable_one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Object {
    let values: Vec<serde_json::Value> = values
        .into_iter()
        .map(|v| serde_json::Value::from(v.to_owned()))
        .chain([serde_json::Value::Null])
        .collect();
    ObjectBuilder::new()
        .schema_type([Type::String, Type::Null].into_iter().collect::<SchemaType>())
        .enum_values(Some(values))
        .build()
}
