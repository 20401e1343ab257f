//! What a shader declares, read from its WGSL: the members of its `Params` struct and its storage bindings with
//! their access. Launchers name their parameters and the launch lays them out from the WGSL, so the Rust side
//! never repeats a struct's order or padding; each bound tensor's access comes from its declaration, so the
//! program can check it against what the planner was told. tests/suite/shaders.rs checks this reading against
//! naga's reflection of every shader.

use anyhow::{bail, Context, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    U32,
    I32,
    F32,
}

/// How a shader declares a storage binding. WGSL storage buffers are `read` or `read_write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub slot: u32,
    pub name: String,
    pub access: Access,
}

/// A shader's `Params` members in order (each one 32-bit word) and its storage bindings other than slot 0,
/// which always holds the parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShaderLayout {
    pub params: Vec<(String, Scalar)>,
    pub bindings: Vec<Binding>,
}

impl ShaderLayout {
    pub fn parse(source: &str) -> Result<ShaderLayout> {
        let code: String = source.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        let mut layout = ShaderLayout::default();
        if let Some(at) = code.find("struct Params") {
            let body = code[at..].split_once('{').and_then(|(_, r)| r.split_once('}')).context("unclosed Params")?.0;
            for member in body.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                let (name, ty) = member.split_once(':').with_context(|| format!("Params member {member:?}"))?;
                let ty = match ty.trim() {
                    "u32" => Scalar::U32,
                    "i32" => Scalar::I32,
                    "f32" => Scalar::F32,
                    t => bail!("Params member {}: type {t} is not a 32-bit scalar", name.trim()),
                };
                layout.params.push((name.trim().to_string(), ty));
            }
        }
        for decl in code.split("@binding(").skip(1) {
            let (slot, rest) = decl.split_once(')').context("unclosed @binding")?;
            let slot: u32 = slot.trim().parse().with_context(|| format!("binding slot {slot:?}"))?;
            let (kind, rest) = rest.split_once("var<").and_then(|(_, r)| r.split_once('>')).context("binding var")?;
            let name = rest.split_once(':').context("binding name")?.0.trim().to_string();
            let access = match kind.split(',').map(str::trim).collect::<Vec<_>>()[..] {
                ["uniform"] | ["storage"] | ["storage", "read"] => Access::Read,
                ["storage", "read_write"] => Access::ReadWrite,
                _ => bail!("binding {slot} ({name}): unknown address space var<{kind}>"),
            };
            if slot != 0 {
                layout.bindings.push(Binding { slot, name, access });
            }
        }
        Ok(layout)
    }

    pub fn binding(&self, slot: u32) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.slot == slot)
    }
}

/// A launch's uniform parameters by member name, like a struct literal with `..zeroed()`: members not given
/// (padding, or fields other entry points of the shader use) are zero; a given name must be a member, once,
/// with its type.
#[derive(Default, Clone, Debug)]
pub struct Params(Vec<(&'static str, Scalar, u32)>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn u(mut self, name: &'static str, v: usize) -> Self {
        self.0.push((name, Scalar::U32, u32::try_from(v).expect("parameter exceeds u32")));
        self
    }
    pub fn f(mut self, name: &'static str, v: f32) -> Self {
        self.0.push((name, Scalar::F32, v.to_bits()));
        self
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The words of the shader's `Params` struct, padded to 16 bytes.
    pub fn words(&self, layout: &ShaderLayout) -> Result<Vec<u32>> {
        for (name, ..) in &self.0 {
            if self.0.iter().filter(|p| p.0 == *name).count() > 1 || !layout.params.iter().any(|m| m.0 == *name) {
                bail!("parameter {name} is given twice or is not a member of the shader's Params");
            }
        }
        let mut words = Vec::new();
        for (member, ty) in &layout.params {
            match self.0.iter().find(|p| p.0 == member) {
                Some(&(_, given, w)) if given == *ty => words.push(w),
                Some(&(_, given, _)) => bail!("parameter {member} is {ty:?} in the shader, given as {given:?}"),
                None => words.push(0),
            }
        }
        while words.is_empty() || !words.len().is_multiple_of(4) {
            words.push(0);
        }
        Ok(words)
    }
}
