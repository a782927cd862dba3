//! The OpenAPI shapes of the domain values the usage API sends and takes. `domain` is pure
//! and names no OpenAPI library, so their schemas are written here, from the same names
//! the values serialise by; the tests below compare each shape with a value's real JSON,
//! so a field added to a value and not here fails a test (and schemathesis checks every
//! answer against the document besides).

use crate::domain::credits::Credits;
use crate::domain::ledger::{BalanceView, GrantKind, JournalEntry, JournalKind};
use crate::domain::pricing::Operation;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

type Schemas = Vec<(String, RefOr<Schema>)>;

/// A string that is one of `values`.
fn one_of(values: impl IntoIterator<Item = &'static str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

/// A value of type `t` (null too when `nullable`), with what it means.
fn scalar(t: Type, nullable: bool, description: Option<&str>) -> RefOr<Schema> {
    let format = (t == Type::Integer).then_some(SchemaFormat::KnownFormat(KnownFormat::Int64));
    let kind = if nullable {
        SchemaType::from_iter([t, Type::Null])
    } else {
        SchemaType::from(t)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .format(format)
        .description(description)
        .into()
}

fn int(description: Option<&str>) -> RefOr<Schema> {
    scalar(Type::Integer, false, description)
}

fn int_or_null(description: Option<&str>) -> RefOr<Schema> {
    scalar(Type::Integer, true, description)
}

fn text_or_null(description: Option<&str>) -> RefOr<Schema> {
    scalar(Type::String, true, description)
}

/// A reference to the named schema `T`.
fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// An object with `fields`: (name, schema, required).
fn object(description: &str, fields: Vec<(&str, RefOr<Schema>, bool)>) -> RefOr<Schema> {
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description));
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
            .description(Some("A non-negative whole number of credits."))
            .examples([120])
            .into()
    }
}
impl ToSchema for Credits {}

impl PartialSchema for Operation {
    fn schema() -> RefOr<Schema> {
        one_of(
            Operation::ALL.map(Operation::key),
            "An AI operation of the product that spends credits (P1).",
        )
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
            "A kind of credits: a plan period's, support's, or a top-up's.",
        )
    }
}
impl ToSchema for GrantKind {}

impl PartialSchema for JournalKind {
    fn schema() -> RefOr<Schema> {
        one_of(
            JournalKind::ALL.map(JournalKind::as_str),
            "What a journal entry records.",
        )
    }
}
impl ToSchema for JournalKind {}

impl PartialSchema for BalanceView {
    fn schema() -> RefOr<Schema> {
        let credits = reference::<Credits>;
        object(
            "An account's balance: `total` (credits in live grants, held or not) by kind, \
             `held` (reserved by open holds) and `available` (what a new hold may take: total \
             less held).",
            vec![
                ("account_id", int(None), true),
                ("total", credits(), true),
                ("subscription", credits(), true),
                ("adjustment", credits(), true),
                ("topup", credits(), true),
                ("held", credits(), true),
                ("available", credits(), true),
                (
                    "subscription_expires_at",
                    int_or_null(Some(
                        "When the earliest-expiring subscription credits expire (Unix seconds).",
                    )),
                    false,
                ),
                (
                    "renews_at",
                    int_or_null(Some("When the plan next renews (Unix seconds).")),
                    false,
                ),
            ],
        )
    }
}
impl ToSchema for BalanceView {
    fn schemas(schemas: &mut Schemas) {
        schemas.push((Credits::name().into(), Credits::schema()));
    }
}

impl PartialSchema for JournalEntry {
    fn schema() -> RefOr<Schema> {
        object(
            "One entry of an account's append-only journal.",
            vec![
                (
                    "seq",
                    int(Some("The entry's number in the account's journal.")),
                    true,
                ),
                ("at", int(Some("Unix seconds.")), true),
                ("kind", reference::<JournalKind>(), true),
                ("amount", int(Some("Signed change of the balance.")), true),
                ("balance_after", int(None), true),
                ("held_after", int(None), true),
                ("grant_id", int_or_null(None), false),
                ("hold_id", int_or_null(None), false),
                ("detail", text_or_null(None), false),
                (
                    "actor",
                    text_or_null(Some("Who made a manual change.")),
                    false,
                ),
            ],
        )
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
