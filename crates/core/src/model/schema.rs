//! The ECS API model as data: every shape, its members, and the constraints the model states
//! (required members, list lengths, string lengths, patterns, enum values, numeric ranges).
//!
//! The table itself, [`SHAPES`](super::SHAPES), is generated from botocore's model; the
//! validator walks documents against it, so a rule stated in the API model is enforced without
//! anyone copying it by hand.

/// One shape of the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// The shape's name in the model, such as `ContainerDefinition`.
    pub name: &'static str,
    /// What kind of value the shape is, with its constraints.
    pub kind: ShapeKind,
}

/// The kind of a shape and the constraints the model puts on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    /// A JSON object with known members.
    Structure {
        /// The members, in the model's order.
        members: &'static [Member],
        /// Whether this is an error (exception) shape.
        exception: bool,
    },
    /// A JSON array.
    List {
        /// Index of the element shape in [`SHAPES`](super::SHAPES).
        member: usize,
        /// Minimum number of elements.
        min: Option<f64>,
        /// Maximum number of elements.
        max: Option<f64>,
    },
    /// A JSON object used as a map.
    Map {
        /// Index of the key shape.
        key: usize,
        /// Index of the value shape.
        value: usize,
    },
    /// A string, possibly an enumeration.
    String {
        /// Minimum length in characters.
        min: Option<f64>,
        /// Maximum length in characters.
        max: Option<f64>,
        /// A Java regular expression the whole value must match.
        pattern: Option<&'static str>,
        /// The allowed values, when the shape is an enumeration.
        values: Option<&'static [&'static str]>,
    },
    /// An integer (32 or 64 bits).
    Integer {
        /// Smallest allowed value.
        min: Option<f64>,
        /// Largest allowed value.
        max: Option<f64>,
    },
    /// A floating-point number.
    Double {
        /// Smallest allowed value.
        min: Option<f64>,
        /// Largest allowed value.
        max: Option<f64>,
    },
    /// `true` or `false`.
    Boolean,
    /// A point in time: epoch seconds on the wire (the CLI also prints ISO 8601 text).
    Timestamp,
    /// Base64 text.
    Blob,
    /// Any JSON value.
    Document,
}

/// A member of a structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The member's name on the wire (camelCase for ECS).
    pub name: &'static str,
    /// Index of the member's shape in [`SHAPES`](super::SHAPES).
    pub shape: usize,
    /// Whether the model lists the member as required.
    pub required: bool,
    /// Whether the model marks the member deprecated.
    pub deprecated: bool,
}

impl Shape {
    /// The members when the shape is a structure, else an empty slice.
    pub fn members(&self) -> &'static [Member] {
        match self.kind {
            ShapeKind::Structure { members, .. } => members,
            _ => &[],
        }
    }

    /// Looks up a member of a structure by its wire name.
    pub fn member(&self, name: &str) -> Option<&'static Member> {
        self.members().iter().find(|m| m.name == name)
    }
}

/// Looks a shape up by name.
pub fn shape(name: &str) -> Option<&'static Shape> {
    let shapes = super::SHAPES;
    shapes
        .binary_search_by(|s| s.name.cmp(name))
        .ok()
        .map(|i| &shapes[i])
}

/// Looks a shape up by index, as stored in [`Member::shape`] and friends.
///
/// # Panics
///
/// Panics if the index is not one the generated tables hold.
pub fn by_index(index: usize) -> &'static Shape {
    &super::SHAPES[index]
}
