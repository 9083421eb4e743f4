//! How each STDF data type becomes an Arrow column.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, ListBuilder, StringBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::kinds::{self, Dn, GenValue, text};
use crate::records::RawRecord;

/// Maps an STDF data type to an Arrow type and builder.
pub trait ArrowKind {
    /// Rust value appended.
    type Val<'a>;
    /// Column builder.
    type Builder: ArrayBuilder + std::fmt::Debug;
    /// A fresh builder.
    fn builder() -> Self::Builder;
    /// Arrow type of the column.
    fn data_type() -> DataType;
    /// Appends one value (null when absent).
    fn append(b: &mut Self::Builder, v: Option<&Self::Val<'_>>);
}

macro_rules! prim_arrow {
    ($k:ty, $t:ty, $b:ty, $dt:expr) => {
        impl ArrowKind for $k {
            type Val<'a> = $t;
            type Builder = $b;
            fn builder() -> $b {
                <$b>::new()
            }
            fn data_type() -> DataType {
                $dt
            }
            #[inline]
            fn append(b: &mut $b, v: Option<&$t>) {
                b.append_option(v.copied())
            }
        }
    };
}

prim_arrow!(kinds::U1, u8, UInt8Builder, DataType::UInt8);
prim_arrow!(kinds::B1, u8, UInt8Builder, DataType::UInt8);
prim_arrow!(kinds::N1, u8, UInt8Builder, DataType::UInt8);
prim_arrow!(kinds::U2, u16, UInt16Builder, DataType::UInt16);
prim_arrow!(kinds::U4, u32, UInt32Builder, DataType::UInt32);
prim_arrow!(kinds::U8, u64, UInt64Builder, DataType::UInt64);
prim_arrow!(kinds::I1, i8, Int8Builder, DataType::Int8);
prim_arrow!(kinds::I2, i16, Int16Builder, DataType::Int16);
prim_arrow!(kinds::I4, i32, Int32Builder, DataType::Int32);
prim_arrow!(kinds::R4, f32, Float32Builder, DataType::Float32);
prim_arrow!(kinds::R8, f64, Float64Builder, DataType::Float64);

impl ArrowKind for kinds::C1 {
    type Val<'a> = u8;
    type Builder = StringBuilder;
    fn builder() -> StringBuilder {
        StringBuilder::new()
    }
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn append(b: &mut StringBuilder, v: Option<&u8>) {
        match v {
            Some(c) => {
                let mut buf = [0u8; 4];
                b.append_value(char::from(*c).encode_utf8(&mut buf))
            }
            None => b.append_null(),
        }
    }
}

macro_rules! text_arrow {
    ($k:ty) => {
        impl ArrowKind for $k {
            type Val<'a> = &'a [u8];
            type Builder = StringBuilder;
            fn builder() -> StringBuilder {
                StringBuilder::new()
            }
            fn data_type() -> DataType {
                DataType::Utf8
            }
            #[inline]
            fn append(b: &mut StringBuilder, v: Option<&&[u8]>) {
                match v {
                    Some(s) => b.append_value(text(s)),
                    None => b.append_null(),
                }
            }
        }
    };
}
text_arrow!(kinds::Cn);
text_arrow!(kinds::Sn);

impl ArrowKind for kinds::Bn {
    type Val<'a> = &'a [u8];
    type Builder = BinaryBuilder;
    fn builder() -> BinaryBuilder {
        BinaryBuilder::new()
    }
    fn data_type() -> DataType {
        DataType::Binary
    }
    fn append(b: &mut BinaryBuilder, v: Option<&&[u8]>) {
        b.append_option(v)
    }
}

/// A Dn bit field as a string of '0'/'1', bit 0 first.
pub fn dn_bits(d: &Dn<'_>) -> String {
    (0..d.bits as usize)
        .map(|i| if d.bit(i) { '1' } else { '0' })
        .collect()
}

impl ArrowKind for kinds::DnK {
    type Val<'a> = Dn<'a>;
    type Builder = StringBuilder;
    fn builder() -> StringBuilder {
        StringBuilder::new()
    }
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn append(b: &mut StringBuilder, v: Option<&Dn<'_>>) {
        b.append_option(v.map(dn_bits))
    }
}

/// A GDR value as `TYPE:value` text (e.g. `U2:17`, `Cn:abc`, `B0:`).
pub fn gen_value_text(v: &GenValue<'_>) -> String {
    let val = match v {
        GenValue::Pad => String::new(),
        GenValue::Cn(s) => text(s).into_owned(),
        GenValue::Bn(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        GenValue::Dn(d) => dn_bits(d),
        other => other.value_json().to_string(),
    };
    format!("{}:{val}", v.type_name())
}

impl ArrowKind for kinds::Vn {
    type Val<'a> = GenValue<'a>;
    type Builder = StringBuilder;
    fn builder() -> StringBuilder {
        StringBuilder::new()
    }
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn append(b: &mut StringBuilder, v: Option<&GenValue<'_>>) {
        b.append_option(v.map(gen_value_text))
    }
}

/// A kxTYPE array of element kind `E`: an Arrow list column.
#[derive(Debug)]
pub struct Arr<E>(PhantomData<E>);

impl<E: ArrowKind> ArrowKind for Arr<E>
where
    E::Builder: ArrayBuilder,
{
    type Val<'a> = Vec<E::Val<'a>>;
    type Builder = ListBuilder<E::Builder>;
    fn builder() -> Self::Builder {
        ListBuilder::new(E::builder())
    }
    fn data_type() -> DataType {
        DataType::List(Arc::new(Field::new_list_field(E::data_type(), true)))
    }
    fn append(b: &mut Self::Builder, v: Option<&Self::Val<'_>>) {
        match v {
            Some(xs) => {
                for x in xs {
                    E::append(b.values(), Some(x));
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
}

/// Columns of the UNKNOWN table: undecoded record types kept as raw bodies.
#[derive(Debug)]
pub(crate) struct UnknownCols {
    offset: UInt64Builder,
    typ: UInt8Builder,
    sub: UInt8Builder,
    body: BinaryBuilder,
    pub(crate) rows: usize,
    schema: SchemaRef,
}

impl UnknownCols {
    pub(crate) fn new() -> Self {
        UnknownCols {
            offset: UInt64Builder::new(),
            typ: UInt8Builder::new(),
            sub: UInt8Builder::new(),
            body: BinaryBuilder::new(),
            rows: 0,
            schema: Arc::new(Schema::new(vec![
                Field::new("REC_OFFSET", DataType::UInt64, false),
                Field::new("REC_TYP", DataType::UInt8, false),
                Field::new("REC_SUB", DataType::UInt8, false),
                Field::new("BODY", DataType::Binary, false),
            ])),
        }
    }

    pub(crate) fn push(&mut self, offset: u64, r: &RawRecord<'_>) {
        self.offset.append_value(offset);
        self.typ.append_value(r.typ);
        self.sub.append_value(r.sub);
        self.body.append_value(r.body);
        self.rows += 1;
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.offset.finish()),
            Arc::new(self.typ.finish()),
            Arc::new(self.sub.finish()),
            Arc::new(self.body.finish()),
        ];
        RecordBatch::try_new(self.schema.clone(), cols)
    }
}
