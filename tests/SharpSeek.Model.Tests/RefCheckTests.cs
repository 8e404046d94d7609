using SharpSeek.Inference.RefCheck;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests;

public class RefCheckTests
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "refcheck", name);

    [Theory]
    [InlineData("tiny", WeightDType.F32)]
    [InlineData("fp8", WeightDType.F32)]
    public void Fixture_PassesAtFp32Class(string name, WeightDType dtype)
    {
        using var pool = new WorkerPool(2);
        var response = RefCheckRunner.Run(Path.Combine(Fixture(name), "request.json"), ActivationPrecision.Fp32, dtype, pool);
        var golden = RefCheckGolden.Load(Path.Combine(Fixture(name), "golden.json"));
        var results = RefCheckComparer.Compare(response, golden, "fp32");
        foreach (var r in results)
            Assert.True(r.Passed, $"{name} {r.Name}: max|Δ| {r.MaxAbs:E3} relRMS {r.RelRms:E3} argmax mismatches {r.ArgmaxMismatches}/{r.ArgmaxChecked} ({r.Verdict})");
    }
}
