// The commands that need no corpus or download, end to end through the real entry point.
using System.Text.Json;

namespace SharpSeek.Cli.Tests;

public class HappyPathTests
{
    [Fact]
    public void Generate_greedy_on_the_tiny_reference_checkpoint_is_deterministic_json()
    {
        string model = CliProcess.TestData("tiny", "checkpoint");
        var a = CliProcess.Run("generate", "--model", model, "--prompt-ids", "1,2,3", "--max-tokens", "5", "--json", "--threads", "1");
        var b = CliProcess.Run("generate", "--model", model, "--prompt-ids", "1,2,3", "--max-tokens", "5", "--json", "--threads", "2");
        Assert.True(a.ExitCode == 0, a.ToString());
        Assert.True(b.ExitCode == 0, b.ToString());
        using var ja = JsonDocument.Parse(a.Stdout);
        using var jb = JsonDocument.Parse(b.Stdout);
        var tokens = ja.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(5, tokens.Length);
        Assert.All(tokens, t => Assert.InRange(t, 0, 511));
        // greedy decoding: the same tokens on any thread count
        Assert.Equal(tokens, jb.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    [Fact]
    public void Logits_check_passes_on_the_tiny_reference_fixture()
    {
        string dir = CliProcess.TestData("tiny");
        string output = Path.Combine(Path.GetTempPath(), $"sharpseek-cli-logits-{Guid.NewGuid():N}.json");
        try
        {
            var r = CliProcess.Run("logits", "--request", Path.Combine(dir, "request.json"), "--out", output,
                "--check", Path.Combine(dir, "golden.json"));
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.True(File.Exists(output));
        }
        finally { File.Delete(output); }
    }

    [Fact]
    public void Model_info_and_plan_report_the_671B_model()
    {
        var info = CliProcess.Run("model", "info", "--model", "deepseek-v3", "--json");
        Assert.True(info.ExitCode == 0, info.ToString());
        using (var ji = JsonDocument.Parse(info.Stdout))
        {
            Assert.InRange(ji.RootElement.GetProperty("total_params").GetInt64(), 670_500_000_000L, 671_500_000_000L);
            Assert.InRange(ji.RootElement.GetProperty("activated_params_per_token").GetInt64(), 36_500_000_000L, 38_000_000_000L);
        }
        var plan = CliProcess.Run("plan", "--json");
        Assert.True(plan.ExitCode == 0, plan.ToString());
        using var j = JsonDocument.Parse(plan.Stdout);
        Assert.Equal(JsonValueKind.Object, j.RootElement.ValueKind);
    }
}
