// GpuSpec — the accelerators the planner knows, with dense (no 2:4 sparsity) tensor-core peaks.
//
// Sources (vendor datasheets; the datasheets print sparse peaks "with sparsity", halved here to dense):
//   H800 SXM5   NVIDIA H800 Tensor Core GPU datasheet: FP8 3,958 TFLOPS sparse → 1,979 dense; BF16 1,979 sparse →
//               989 dense; 80 GB HBM3, 3.35 TB/s; NVLink 400 GB/s (the export variant's reduced NVLink).
//               Price: the DeepSeek-V3 report's assumption, $2 per GPU-hour (arXiv 2412.19437, Table 1).
//   H100 SXM5   NVIDIA H100 Tensor Core GPU datasheet: FP8 3,958 / BF16 1,979 sparse → 1,979 / 989 dense;
//               80 GB HBM3, 3.35 TB/s; NVLink 900 GB/s.
//   H200 SXM    NVIDIA H200 Tensor Core GPU datasheet: same compute as H100 SXM; 141 GB HBM3e, 4.8 TB/s; NVLink 900 GB/s.
//   A100 SXM    NVIDIA A100 Tensor Core GPU datasheet (80GB SXM): BF16 312 dense (624 sparse); no FP8 tensor cores
//               (FP8 falls back to BF16 peak here); 80 GB HBM2e, 2,039 GB/s; NVLink 600 GB/s.
//   B200        NVIDIA DGX B200 / HGX B200 datasheets: FP8 9 PFLOPS sparse → 4.5 dense; BF16 4.5 sparse → 2.25 dense;
//               180 GB HBM3e per GPU (DGX B200: 1,440 GB for 8), 8 TB/s; NVLink 5 1.8 TB/s.
// Prices other than H800's are assumptions (typical 2025 on-demand rental rates of GPU clouds), not vendor data;
// pass --price to override.
namespace SharpSeek.Planner;

public sealed record GpuSpec(
    string Name,
    double DenseBf16Tflops,
    double? DenseFp8Tflops,
    double MemoryGB,
    double HbmBandwidthTBps,
    double NvlinkGBps,
    double PricePerHourUsd,
    string PriceSource)
{
    /// <summary>FP8 dense peak, or the BF16 peak for GPUs without FP8 tensor cores (A100).</summary>
    public double Fp8OrBf16Tflops => DenseFp8Tflops ?? DenseBf16Tflops;

    public double PeakTflops(PeakPrecision precision) =>
        precision == PeakPrecision.Fp8 ? Fp8OrBf16Tflops : DenseBf16Tflops;

    public long MemoryBytes => (long)(MemoryGB * 1e9);

    public static readonly GpuSpec H800 = new("H800", 989.4, 1978.9, 80, 3.35, 400, 2.0, "DeepSeek-V3 report");
    public static readonly GpuSpec H100 = new("H100", 989.4, 1978.9, 80, 3.35, 900, 2.5, "assumed rental rate");
    public static readonly GpuSpec H200 = new("H200", 989.4, 1978.9, 141, 4.8, 900, 3.5, "assumed rental rate");
    public static readonly GpuSpec A100 = new("A100", 312, null, 80, 2.039, 600, 1.5, "assumed rental rate");
    public static readonly GpuSpec B200 = new("B200", 2250, 4500, 180, 8.0, 1800, 5.0, "assumed rental rate");

    public static IReadOnlyList<GpuSpec> Presets { get; } = [H800, H100, H200, A100, B200];

    public static GpuSpec FromName(string name)
    {
        foreach (var g in Presets)
            if (string.Equals(g.Name, name, StringComparison.OrdinalIgnoreCase)) return g;
        throw new ArgumentException(
            $"unknown GPU '{name}'; known GPUs: {string.Join(", ", Presets.Select(g => g.Name.ToLowerInvariant()))}.");
    }
}

/// <summary>Which tensor-core peak an MFU is quoted against.</summary>
public enum PeakPrecision { Bf16, Fp8 }
