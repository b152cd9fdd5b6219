//! What a connector says about itself in `describe`: its settings, its streams and the
//! fixed hosts it needs. The host builds forms, validation and the sandbox's allow-list
//! from it, and [`crate::Settings`] reads values by it.

/// How a setting is entered, validated and treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A credential: masked, encrypted at rest, never logged.
    Secret,
    /// An absolute URL the connector will call; the sandbox lets it reach that host.
    Url,
    /// Comma-separated values.
    List,
    /// An integer, within the field's range when it has one.
    Number,
    /// `true` or `false`.
    Bool,
}

/// One setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Stable machine key, kebab-case.
    pub key: &'static str,
    /// Short human label.
    pub label: &'static str,
    /// Where to find the value.
    pub help: &'static str,
    /// How it is entered.
    pub kind: FieldKind,
    /// Whether it must be given (a field with a default never is).
    pub required: bool,
    /// The value used when none is given.
    pub default: Option<&'static str>,
    /// For numbers: the smallest and largest value accepted.
    pub range: Option<(i64, i64)>,
}

impl Field {
    /// A field of `kind`, optional, without default or range; set the rest with the
    /// builder methods.
    pub const fn new(
        key: &'static str,
        label: &'static str,
        help: &'static str,
        kind: FieldKind,
    ) -> Self {
        Field {
            key,
            label,
            help,
            kind,
            required: false,
            default: None,
            range: None,
        }
    }

    /// The same field, required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The same field with a default value.
    pub const fn default_value(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }

    /// The same number field, accepting `min..=max`.
    pub const fn range(mut self, min: i64, max: i64) -> Self {
        self.range = Some((min, max));
        self
    }
}

/// A kind of record the connector can pull, chosen per integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// Stable machine name, kebab-case.
    pub name: &'static str,
    /// Short human label.
    pub label: &'static str,
    /// What it pulls and what it needs.
    pub description: &'static str,
    /// Whether a new integration pulls it unless told otherwise.
    pub default_on: bool,
}

/// Everything `describe` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// Short machine name (`wiz`, `github-dependabot`).
    pub name: &'static str,
    /// The connector's own version (its crate's version).
    pub version: &'static str,
    /// Settings, in display order.
    pub fields: Vec<Field>,
    /// Streams offered, at least one.
    pub streams: Vec<Stream>,
    /// URLs needed whatever the settings say; most connectors need none.
    pub fixed_endpoints: Vec<&'static str>,
}

impl Description {
    /// The field with `key`.
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }
}
