//! Model settings with a partial twin for experiment files.
//!
//! Every model's settings struct is declared through [`settings_struct!`], which also declares
//! an "overrides" struct of the same fields, all optional. Experiment files and profiles
//! deserialize overrides (unknown fields rejected) and apply them over the thesis's defaults;
//! [`describe_changes`](VanillaSettings::describe_changes) then names every setting a profile
//! scaled.

/// Declares a settings struct and its overrides struct (same fields, each optional).
#[macro_export]
macro_rules! settings_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, overrides $overrides:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        #[doc = concat!("Fields of [`", stringify!($name), "`] to change; absent fields keep their value.")]
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $overrides {
            $(
                $(#[$field_meta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl $name {
            /// Returns these settings with every field present in `overrides` replaced.
            pub fn with_overrides(mut self, overrides: &$overrides) -> Self {
                $( if let Some(value) = &overrides.$field { self.$field = value.clone(); } )*
                self
            }

            /// One phrase per field that differs from `reference`, such as
            /// `steps_per_epoch 4 (thesis 468)`.
            pub fn describe_changes(&self, reference: &Self, reference_name: &str) -> Vec<String> {
                let mut changes = Vec::new();
                $(
                    if self.$field != reference.$field {
                        changes.push(format!(
                            "{} {:?} ({} {:?})",
                            stringify!($field), self.$field, reference_name, reference.$field
                        ));
                    }
                )*
                changes
            }
        }

        impl $overrides {
            /// Overrides with `other`'s fields layered over this one's.
            pub fn merged(&self, other: &Self) -> Self {
                Self { $( $field: other.$field.clone().or_else(|| self.$field.clone()), )* }
            }
        }
    };
}
