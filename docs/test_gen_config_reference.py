"""Tests of the configuration reference generator (run by
scripts/test-docs.sh: ``python -m unittest discover -s docs -p 'test_*.py'``)."""

import unittest

from gen_config_reference import Source, UndocumentedError, _docstring_bullets, read_rust

STRUCT = '''
/// How a thing behaves.
#[derive(Clone)]
pub struct ThingConfig {
    /// Calls at once. At least 1, default 10.
    pub max_calls: u32,
    /// How long to wait.
    ///
    /// A second paragraph with a [`Link`] and a | pipe.
    pub wait: Option<Duration>,
}

impl Default for ThingConfig {
    fn default() -> Self {
        Self {
            max_calls: 10,
            wait: Some(Duration::from_millis(250)),
        }
    }
}
'''

SRC = Source("Thing", "thing.rs", "ThingConfig", "seawall")


class ReadRust(unittest.TestCase):
    def test_reads_fields_types_docs_and_defaults(self) -> None:
        items = read_rust(SRC, STRUCT)
        self.assertEqual([(i.name, i.type, i.default) for i in items],
                         [("max_calls", "u32", "10"), ("wait", "Option<Duration>", "250 ms")])
        self.assertEqual(items[1].doc,
                         "How long to wait.<br>A second paragraph with a `Link` and a \\| pipe.")

    def test_an_undocumented_field_is_an_error_naming_it(self) -> None:
        text = STRUCT.replace("    /// How long to wait.\n    ///\n    /// A second paragraph "
                              "with a [`Link`] and a | pipe.\n", "")
        with self.assertRaisesRegex(UndocumentedError, r"ThingConfig\.wait has no /// doc"):
            read_rust(SRC, text)

    def test_a_field_missing_from_default_is_an_error(self) -> None:
        text = STRUCT.replace("            max_calls: 10,\n", "")
        with self.assertRaisesRegex(UndocumentedError, r"max_calls has no value in impl Default"):
            read_rust(SRC, text)

    def test_an_undocumented_enum_variant_is_an_error(self) -> None:
        text = "/// Modes.\npub enum Mode {\n    /// Documented.\n    A,\n    B,\n}\n"
        with self.assertRaisesRegex(UndocumentedError, r"Mode::B has no /// doc"):
            read_rust(Source("Mode", "m.rs", "Mode", "seawall", enum=True), text)

    def test_a_missing_struct_is_an_error(self) -> None:
        with self.assertRaisesRegex(UndocumentedError, "OtherConfig"):
            read_rust(Source("X", "x.rs", "OtherConfig", "seawall"), STRUCT)


class DocstringBullets(unittest.TestCase):
    def test_bullets_by_name_with_shared_bullets(self) -> None:
        doc = ("Intro.\n\n- ``a``: first\n  continued.\n- ``b`` / ``c``: shared.\n\n"
               "Not a bullet.")
        self.assertEqual(_docstring_bullets(doc),
                         {"a": "first continued.", "b": "shared.", "c": "shared."})


if __name__ == "__main__":
    unittest.main()
