//! `beton learn` (SPEC §11): weights learned from outcomes, validated forward in time, proposed
//! as base points, and applied only by a deliberate step that can be rolled back.

pub mod model;

pub use model::{
    BeforeAfter, Coefficient, Learned, Model, Part, RulesValidation, TestPart, Validation, learn,
    propose_bases, rescore, score_of,
};
