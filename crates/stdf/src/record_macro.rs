//! The macro that turns a table of STDF record layouts into structs, codecs,
//! JSON dumps and Arrow column builders.

/// Rust type of a field kind.
macro_rules! fty {
    (U1) => { u8 };
    (B1) => { u8 };
    (C1) => { u8 };
    (N1) => { u8 };
    (U2) => { u16 };
    (U4) => { u32 };
    (U8) => { u64 };
    (I1) => { i8 };
    (I2) => { i16 };
    (I4) => { i32 };
    (R4) => { f32 };
    (R8) => { f64 };
    (Cn) => { &'a [u8] };
    (Sn) => { &'a [u8] };
    (Bn) => { &'a [u8] };
    (DnK) => { $crate::kinds::Dn<'a> };
    (Vn) => { $crate::kinds::GenValue<'a> };
    ([$e:tt; $c:ident]) => { Vec<fty!($e)> };
}

/// Arrow kind (marker type) of a field kind.
macro_rules! aty {
    ([$e:tt; $c:ident]) => { $crate::export::arrow_kinds::Arr<$crate::kinds::$e> };
    ($k:ident) => { $crate::kinds::$k };
}

macro_rules! read_field {
    ($c:ident, [$e:tt; $cnt:ident]) => {
        match $cnt {
            Some(k) => <$crate::kinds::$e as $crate::kinds::Kind>::read_array($c, usize::from(k)),
            None => Ok(None),
        }
    };
    ($c:ident, $k:ident) => {
        <$crate::kinds::$k as $crate::kinds::Kind>::read($c)
    };
}

macro_rules! write_field {
    ($e:ident, $s:ident, [$el:tt; $cnt:ident], $v:expr) => {
        match $v {
            Some(vs) => <$crate::kinds::$el as $crate::kinds::Kind>::write_array(vs, $e),
            None => <$crate::kinds::$el as $crate::kinds::Kind>::write_default_array(
                $s.$cnt.map_or(0, usize::from),
                $e,
            ),
        }
    };
    ($e:ident, $s:ident, $k:ident, $v:expr) => {
        match $v {
            Some(x) => <$crate::kinds::$k as $crate::kinds::Kind>::write(x, $e),
            None => <$crate::kinds::$k as $crate::kinds::Kind>::write_default($e),
        }
    };
}

macro_rules! json_field {
    ([$el:tt; $cnt:ident], $v:expr) => {
        $v.as_ref().map_or(serde_json::Value::Null, |xs| {
            serde_json::Value::Array(
                xs.iter()
                    .map(|x| <$crate::kinds::$el as $crate::kinds::Kind>::json(x))
                    .collect(),
            )
        })
    };
    ($k:ident, $v:expr) => {
        $v.as_ref().map_or(serde_json::Value::Null, |x| {
            <$crate::kinds::$k as $crate::kinds::Kind>::json(x)
        })
    };
}

/// Defines every record type from one table.
macro_rules! define_records {
    ( $(
        $(#[$doc:meta])*
        $Name:ident $(<$lt:lifetime>)?, $Cols:ident = ($typ:literal, $sub:literal, $tag:literal) {
            $( $f:ident : $k:tt ),* $(,)?
        }
    )* ) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Default)]
            pub struct $Name $(<$lt>)? {
                $(
                    #[doc = concat!("`", stringify!($f), "` (", stringify!($k), "); `None` when absent from the record.")]
                    pub $f: Option<fty!($k)>,
                )*
            }

            impl $(<$lt>)? $Name $(<$lt>)? {
                /// REC_TYP of this record type.
                pub const TYP: u8 = $typ;
                /// REC_SUB of this record type.
                pub const SUB: u8 = $sub;
                /// Three-letter STDF name.
                pub const NAME: &'static str = $tag;
                /// Field names in STDF order (lower case).
                pub const FIELDS: &'static [&'static str] = &[ $( stringify!($f) ),* ];

                /// Appends the body: every field up to the last present one
                /// (absent fields before it get their STDF "missing" value).
                #[allow(unused_assignments, unused_variables, unused_mut)]
                pub fn encode(&self, e: &mut $crate::codec::Encoder) {
                    let present: &[bool] = &[ $( self.$f.is_some() ),* ];
                    let Some(last) = present.iter().rposition(|p| *p) else { return };
                    let mut i = 0usize;
                    $(
                        if i <= last {
                            write_field!(e, self, $k, &self.$f);
                        }
                        i += 1;
                    )*
                }

                /// The record as JSON: `{"rec": NAME, "fields": [[FIELD, value], ...]}`.
                pub fn to_json(&self) -> serde_json::Value {
                    serde_json::json!({
                        "rec": $tag,
                        "fields": [ $( [stringify!($f).to_ascii_uppercase(), json_field!($k, &self.$f)] ),* ],
                    })
                }
            }

            impl<'a> $crate::records::Decode<'a> for $Name $(<$lt>)? {
                #[allow(unused_variables)]
                fn decode(c: &mut $crate::codec::Cursor<'a>, strict: bool) -> Result<Self, (&'static str, $crate::codec::DecodeErr)> {
                    $(
                        let $f = read_field!(c, $k).map_err(|e| (stringify!($f), e))?;
                    )*
                    if strict && !c.at_end() {
                        return Err(("(end of record)", $crate::codec::DecodeErr::Trailing { extra: c.remaining() }));
                    }
                    Ok(Self { $($f),* })
                }
            }

            /// Arrow column builders of one record type.
            #[derive(Debug)]
            pub(crate) struct $Cols {
                offset: arrow::array::UInt64Builder,
                $( $f: <aty!($k) as $crate::export::arrow_kinds::ArrowKind>::Builder, )*
                rows: usize,
            }

            impl $Cols {
                fn new() -> Self {
                    Self {
                        offset: arrow::array::UInt64Builder::new(),
                        $( $f: <aty!($k) as $crate::export::arrow_kinds::ArrowKind>::builder(), )*
                        rows: 0,
                    }
                }

                fn schema() -> arrow::datatypes::SchemaRef {
                    std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
                        arrow::datatypes::Field::new("REC_OFFSET", arrow::datatypes::DataType::UInt64, false),
                        $(
                            arrow::datatypes::Field::new(
                                stringify!($f).to_ascii_uppercase(),
                                <aty!($k) as $crate::export::arrow_kinds::ArrowKind>::data_type(),
                                true,
                            ),
                        )*
                    ]))
                }

                #[inline]
                #[allow(unused_variables)]
                fn push(&mut self, offset: u64, r: &$Name) {
                    self.offset.append_value(offset);
                    $( <aty!($k) as $crate::export::arrow_kinds::ArrowKind>::append(&mut self.$f, r.$f.as_ref()); )*
                    self.rows += 1;
                }

                fn finish(&mut self, schema: arrow::datatypes::SchemaRef) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError> {
                    self.rows = 0;
                    let cols: Vec<arrow::array::ArrayRef> = vec![
                        std::sync::Arc::new(self.offset.finish()),
                        $( arrow::array::ArrayBuilder::finish(&mut self.$f), )*
                    ];
                    arrow::record_batch::RecordBatch::try_new(schema, cols)
                }
            }
        )*

        /// One decoded STDF record, borrowing text and bit fields from the input buffer.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Record<'a> {
            $(
                #[doc = concat!("`", $tag, "` (", stringify!($typ), ",", stringify!($sub), ")")]
                $Name($Name $(<$lt>)?),
            )*
            /// A record type this codec does not decode (kept as raw bytes).
            Unknown($crate::records::RawRecord<'a>),
        }

        impl<'a> Record<'a> {
            /// Decodes a raw record in the file's byte order. Bytes left over after
            /// the last field are an error ([`StdfError::TrailingBytes`](crate::StdfError::TrailingBytes)):
            /// they mean the REC_LEN is wrong.
            pub fn decode(raw: &$crate::records::RawRecord<'a>, endian: $crate::codec::Endian) -> $crate::error::Result<Record<'a>> {
                Self::decode_with(raw, endian, true)
            }

            /// Decodes a raw record; with `strict` false, bytes after the last
            /// field are ignored instead of being an error.
            pub fn decode_with(raw: &$crate::records::RawRecord<'a>, endian: $crate::codec::Endian, strict: bool) -> $crate::error::Result<Record<'a>> {
                use $crate::records::Decode;
                let mut c = $crate::codec::Cursor::new(raw.body, endian);
                match (raw.typ, raw.sub) {
                    $(
                        ($typ, $sub) => $Name::decode(&mut c, strict)
                            .map(Record::$Name)
                            .map_err(|(field, e)| $crate::records::field_error(raw, $tag, field, e)),
                    )*
                    // STR (V4-2007) and the user-defined types 180/181 are kept raw;
                    // any other type is not STDF and, when strict, means misframing.
                    (15, 30) | (180 | 181, _) => Ok(Record::Unknown(*raw)),
                    _ if !strict => Ok(Record::Unknown(*raw)),
                    (typ, sub) => Err($crate::error::StdfError::UnknownRecordType { offset: raw.offset, typ, sub, len: raw.body.len() as u16 }),
                }
            }

            /// Three-letter STDF name (`UNKNOWN` for undecoded types).
            pub fn name(&self) -> &'static str {
                match self {
                    $( Record::$Name(_) => $tag, )*
                    Record::Unknown(_) => "UNKNOWN",
                }
            }

            /// (REC_TYP, REC_SUB).
            pub fn type_sub(&self) -> (u8, u8) {
                match self {
                    $( Record::$Name(_) => ($typ, $sub), )*
                    Record::Unknown(r) => (r.typ, r.sub),
                }
            }

            /// Appends the record body (no header).
            pub fn encode_body(&self, e: &mut $crate::codec::Encoder) {
                match self {
                    $( Record::$Name(r) => r.encode(e), )*
                    Record::Unknown(r) => e.bytes(r.body),
                }
            }

            /// The record as JSON (see each type's `to_json`).
            pub fn to_json(&self) -> serde_json::Value {
                match self {
                    $( Record::$Name(r) => r.to_json(), )*
                    Record::Unknown(r) => serde_json::json!({
                        "rec": "UNKNOWN", "typ": r.typ, "sub": r.sub, "fields": [["BODY", r.body]],
                    }),
                }
            }
        }

        /// Names of every decoded record type, in table order.
        pub const RECORD_NAMES: &[&str] = &[ $( $tag ),* ];

        /// Arrow builders for every record type (records layout).
        #[derive(Debug)]
        #[allow(non_snake_case)]
        pub(crate) struct RecordColumns {
            $( $Cols: Option<($Cols, arrow::datatypes::SchemaRef)>, )*
            unknown: Option<$crate::export::arrow_kinds::UnknownCols>,
        }

        #[allow(non_snake_case)]
        impl RecordColumns {
            pub(crate) fn new() -> Self {
                Self { $( $Cols: None, )* unknown: None }
            }

            /// Adds one record; returns the table name and row count of its builder.
            #[inline]
            pub(crate) fn push(&mut self, offset: u64, rec: &Record<'_>) -> (&'static str, usize) {
                match rec {
                    $(
                        Record::$Name(r) => {
                            let (cols, _) = self.$Cols.get_or_insert_with(|| ($Cols::new(), $Cols::schema()));
                            cols.push(offset, r);
                            ($tag, cols.rows)
                        }
                    )*
                    Record::Unknown(r) => {
                        let u = self.unknown.get_or_insert_with($crate::export::arrow_kinds::UnknownCols::new);
                        u.push(offset, r);
                        ("UNKNOWN", u.rows)
                    }
                }
            }

            /// Finishes the builder of one table into a batch (None when it holds no rows).
            pub(crate) fn finish(&mut self, table: &str) -> Result<Option<arrow::record_batch::RecordBatch>, arrow::error::ArrowError> {
                match table {
                    $(
                        $tag => match self.$Cols.as_mut() {
                            Some((c, s)) if c.rows > 0 => c.finish(s.clone()).map(Some),
                            _ => Ok(None),
                        },
                    )*
                    _ => match self.unknown.as_mut() {
                        Some(u) if u.rows > 0 => u.finish().map(Some),
                        _ => Ok(None),
                    },
                }
            }

            /// Names of the tables that hold rows.
            pub(crate) fn pending(&self) -> Vec<&'static str> {
                let mut v = Vec::new();
                $( if self.$Cols.as_ref().is_some_and(|(c, _)| c.rows > 0) { v.push($tag); } )*
                if self.unknown.as_ref().is_some_and(|u| u.rows > 0) { v.push("UNKNOWN"); }
                v
            }
        }
    };
}
