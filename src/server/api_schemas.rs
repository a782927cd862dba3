//! The OpenAPI shapes of the domain values the usage API sends and takes. `domain` is pure
//! and names no OpenAPI library, so their schemas are written here, from the same names
//! the values serialise by; the tests below compare each shape with a value's real JSON,
//! so a field added to a value and not here fails a test (and schemathesis checks every
//! answer against the document besides).

use crate::domain::credits::Credits;
use crate::domain::ledger::{BalanceView, GrantKind, JournalEntry, JournalKind};
use crate::domain::pricing::Operation;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

type Schemas = Vec<(String, RefOr<Schema>)>;

/// A string that is one of `values`.
fn one_of(values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// A reference to the named schema `T`.
fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// An object with `fields`: (name, schema, required).
fn object(fields: Vec<(&str, RefOr<Schema>, bool)>) -> RefOr<Schema> {
    let mut o = ObjectBuilder::new().schema_type(Type::Object);
    for (name, schema, required) in fields {
        o = o.property(name, schema);
        if required {
            o = o.required(name);
        }
    }
    o.into()
}

impl PartialSchema for Credits {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .examples([120])
            .into()
    }
}
impl ToSchema for Credits {}

impl PartialSchema for Operation {
    fn schema() -> RefOr<Schema> {
        one_of(Operation::ALL.map(Operation::key))
    }
}
impl ToSchema for Operation {}

impl PartialSchema for GrantKind {
    fn schema() -> RefOr<Schema> {
        one_of(
            [
                GrantKind::Subscription,
                GrantKind::Adjustment,
                GrantKind::Topup,
            ]
            .map(GrantKind::as_str),
        )
    }
}
impl ToSchema for GrantKind {}

impl PartialSchema for JournalKind {
    fn schema() -> RefOr<Schema> {
        one_of(JournalKind::ALL.map(JournalKind::as_str))
    }
}
impl ToSchema for JournalKind {}

impl PartialSchema for BalanceView {
    fn schema() -> RefOr<Schema> {
        let credits = reference::<Credits>;
        object(vec![
            ("account_id", i64::schema(), true),
            ("total", credits(), true),
            ("subscription", credits(), true),
            ("adjustment", credits(), true),
            ("topup", credits(), true),
            ("held", credits(), true),
            ("available", credits(), true),
            ("subscription_expires_at", Option::<i64>::schema(), false),
            ("renews_at", Option::<i64>::schema(), false),
        ])
    }
}
impl ToSchema for BalanceView {
    fn schemas(schemas: &mut Schemas) {
        schemas.push((Credits::name().into(), Credits::schema()));
    }
}

impl PartialSchema for JournalEntry {
    fn schema() -> RefOr<Schema> {
        object(vec![
            ("seq", i64::schema(), true),
            ("at", i64::schema(), true),
            ("kind", reference::<JournalKind>(), true),
            ("amount", i64::schema(), true),
            ("balance_after", i64::schema(), true),
            ("held_after", i64::schema(), true),
            ("grant_id", Option::<i64>::schema(), false),
            ("hold_id", Option::<i64>::schema(), false),
            ("detail", Option::<String>::schema(), false),
            ("actor", Option::<String>::schema(), false),
        ])
    }
}
impl ToSchema for JournalEntry {
    fn schemas(schemas: &mut Schemas) {
        schemas.push((JournalKind::name().into(), JournalKind::schema()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// The schema as JSON.
    fn json<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    /// (property names, required names) of an object schema.
    fn shape(schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
        let names = |v: &Value| -> BTreeSet<String> {
            match v {
                Value::Object(m) => m.keys().cloned().collect(),
                Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
                _ => BTreeSet::new(),
            }
        };
        (names(&schema["properties"]), names(&schema["required"]))
    }

    /// (every key, the keys whose value is not null) of a value's JSON.
    fn keys(value: &impl Serialize) -> (BTreeSet<String>, BTreeSet<String>) {
        let Value::Object(m) = serde_json::to_value(value).unwrap() else {
            panic!("not an object");
        };
        let all = m.keys().cloned().collect();
        let set = m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.clone())
            .collect();
        (all, set)
    }

    fn c(n: u64) -> Credits {
        Credits::new(n).unwrap()
    }

    #[test]
    fn object_schemas_name_every_field_and_require_the_ones_never_null() {
        let balance = BalanceView {
            account_id: 1,
            total: c(3),
            subscription: c(1),
            adjustment: c(1),
            topup: c(1),
            held: c(0),
            available: c(3),
            subscription_expires_at: None,
            renews_at: None,
        };
        let (all, never_null) = keys(&balance);
        assert_eq!(shape(&json::<BalanceView>()), (all, never_null));

        let entry = JournalEntry {
            seq: 1,
            at: 2,
            kind: JournalKind::Grant,
            amount: 3,
            balance_after: 3,
            held_after: 0,
            grant_id: None,
            hold_id: None,
            detail: None,
            actor: None,
        };
        let (all, never_null) = keys(&entry);
        assert_eq!(shape(&json::<JournalEntry>()), (all, never_null));
    }

    #[test]
    fn enum_schemas_list_the_names_values_serialise_by() {
        let listed = |v: Value| -> Vec<Value> { v["enum"].as_array().unwrap().clone() };
        let serialised = |v: Vec<Value>| v;
        assert_eq!(
            listed(json::<JournalKind>()),
            serialised(
                JournalKind::ALL
                    .map(|k| serde_json::to_value(k).unwrap())
                    .to_vec()
            )
        );
        assert_eq!(
            listed(json::<Operation>()),
            serialised(
                Operation::ALL
                    .map(|o| serde_json::to_value(o).unwrap())
                    .to_vec()
            )
        );
        let kinds = [
            GrantKind::Subscription,
            GrantKind::Adjustment,
            GrantKind::Topup,
        ];
        assert_eq!(
            listed(json::<GrantKind>()),
            kinds.map(|k| serde_json::to_value(k).unwrap()).to_vec()
        );
        assert_eq!(json::<Credits>()["minimum"], serde_json::json!(0));
        assert_eq!(
            serde_json::to_value(c(120)).unwrap(),
            json::<Credits>()["examples"][0]
        );
    }
}
