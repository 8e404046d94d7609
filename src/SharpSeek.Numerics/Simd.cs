// SIMD dispatch. Every vectorized kernel has one body written against IVec<V> and is instantiated for each width
// (VecScalar, Vec128, Vec256, Vec512); Simd.Active picks the widest the CPU accelerates, capped by the
// environment variable SHARPSEEK_SIMD=scalar|v128|v256|v512 (as nietras/Sep forces its parsers), so a test or
// benchmark run can force any variant. Kernels also take an explicit SimdLevel so tests run every variant in-process.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpSeek.Numerics;

public enum SimdLevel
{
    Scalar = 0,
    Vector128 = 1,
    Vector256 = 2,
    Vector512 = 3,
}

public static class Simd
{
    /// <summary>Name of the environment variable that caps <see cref="Active"/>.</summary>
    public const string EnvironmentVariable = "SHARPSEEK_SIMD";

    /// <summary>Every level this CPU accelerates, narrowest first (Scalar is always supported).</summary>
    public static IReadOnlyList<SimdLevel> Supported { get; } = DetectSupported();

    private static SimdLevel? s_active;

    /// <summary>The widest supported level, capped by SHARPSEEK_SIMD when it is set. An invalid SHARPSEEK_SIMD
    /// throws ArgumentException here (not a TypeInitializationException), so the CLI reports it as a usage error.</summary>
    public static SimdLevel Active => s_active ??= ChooseActive(Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary>The widest supported level.</summary>
    public static SimdLevel Best => Supported[^1];

    public static bool IsSupported(SimdLevel level) => level == SimdLevel.Scalar || Supported.Contains(level);

    /// <summary>Parses a SHARPSEEK_SIMD value: scalar, v128, v256 or v512 (case-insensitive).</summary>
    public static SimdLevel Parse(string value) => value.Trim().ToLowerInvariant() switch
    {
        "scalar" => SimdLevel.Scalar,
        "v128" or "vector128" => SimdLevel.Vector128,
        "v256" or "vector256" => SimdLevel.Vector256,
        "v512" or "vector512" => SimdLevel.Vector512,
        _ => throw new ArgumentException($"{EnvironmentVariable}='{value}' is not a SIMD level; use scalar, v128, v256 or v512."),
    };

    /// <summary>Short name as used in SHARPSEEK_SIMD (scalar, v128, v256, v512).</summary>
    public static string Name(SimdLevel level) => level switch
    {
        SimdLevel.Scalar => "scalar",
        SimdLevel.Vector128 => "v128",
        SimdLevel.Vector256 => "v256",
        SimdLevel.Vector512 => "v512",
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "Unknown SimdLevel."),
    };

    /// <summary>The best supported level not above `cap`.</summary>
    public static SimdLevel Cap(SimdLevel cap)
    {
        SimdLevel best = SimdLevel.Scalar;
        foreach (SimdLevel level in Supported)
            if (level <= cap) best = level;
        return best;
    }

    /// <summary>Kernel entry check: the level must run accelerated here (Scalar always does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Require(SimdLevel level)
    {
        if (level != SimdLevel.Scalar && !IsSupported(level)) ThrowUnsupported(level);
    }

    internal static SimdLevel ChooseActive(string? environmentValue) =>
        string.IsNullOrWhiteSpace(environmentValue) ? Best : Cap(Parse(environmentValue));

    private static SimdLevel[] DetectSupported()
    {
        var levels = new List<SimdLevel> { SimdLevel.Scalar };
        if (Vector128.IsHardwareAccelerated) levels.Add(SimdLevel.Vector128);
        if (Vector256.IsHardwareAccelerated) levels.Add(SimdLevel.Vector256);
        if (Vector512.IsHardwareAccelerated) levels.Add(SimdLevel.Vector512);
        return levels.ToArray();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowUnsupported(SimdLevel level) =>
        throw new PlatformNotSupportedException(
            $"SimdLevel {level} is not accelerated on this CPU (supported: {string.Join(", ", Supported)}); pass one of those or Simd.Active.");
}
