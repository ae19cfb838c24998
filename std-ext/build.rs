//! Compiles the CUDA kernels as host C++ for the tests (feature `host-kernels`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
    #[cfg(feature = "host-kernels")]
    {
        cc::Build::new()
            .cpp(true)
            .file("kernels/host_harness.cpp")
            .include("kernels")
            .std("c++17")
            // The kernels' results are defined bit for bit: no contraction into fused
            // multiply-adds, no reassociation.
            .flag("-ffp-contract=off")
            .flag_if_supported("-fno-fast-math")
            .warnings(true)
            .compile("flowscore_host_kernels");
    }
}
