// Bad input at the command line: exit code 2, one clear `error: …` line on stderr that names what is wrong, and
// never a stack trace. (Exit 1 is kept for "ran, but the result is a failure", e.g. a failed --check.)
namespace SharpSeek.Cli.Tests;

public class ErrorTests
{
    private static readonly string Tiny = CliProcess.TestData("tiny", "checkpoint");

    private static void AssertUsageError(CliResult r, params string[] mentions)
    {
        Assert.True(r.ExitCode == 2, $"expected exit 2: {r}");
        Assert.StartsWith("error: ", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);                 // no stack trace
        Assert.DoesNotContain("Exception", r.Stderr);
        foreach (var m in mentions) Assert.Contains(m, r.Stderr);
    }

    [Fact]
    public void Unknown_option_and_missing_required_option_are_usage_errors()
    {
        var r = CliProcess.Run("generate", "--bogus");
        AssertUsageError(r, "--bogus", "--model", "sharpseek generate --help");
        AssertUsageError(CliProcess.Run("bench", "gemm", "--sizes", "x"), "'x'", "--sizes");
        AssertUsageError(CliProcess.Run("no-such-command"), "no-such-command");
    }

    [Fact]
    public void Missing_and_malformed_model_directories_are_named()
    {
        string missing = Path.Combine(Path.GetTempPath(), "sharpseek-no-such-dir-" + Guid.NewGuid().ToString("N"));
        AssertUsageError(CliProcess.Run("generate", "--model", missing, "--prompt-ids", "1"), missing);

        string bad = Directory.CreateTempSubdirectory("sharpseek-cli-bad-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(bad, "config.json"), "{");
            AssertUsageError(CliProcess.Run("generate", "--model", bad, "--prompt-ids", "1"), "config.json", "invalid JSON");
            var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Tiny, "config.json")))!;
            config["hidden_size"] = -3;
            File.WriteAllText(Path.Combine(bad, "config.json"), config.ToJsonString());
            AssertUsageError(CliProcess.Run("model", "info", "--model", bad), "hidden_size");
        }
        finally { Directory.Delete(bad, recursive: true); }
    }

    [Fact]
    public void Unknown_presets_requests_and_tokenizers_are_named()
    {
        AssertUsageError(CliProcess.Run("model", "info", "--model", "nosuch"), "nosuch", "tiny");
        AssertUsageError(CliProcess.Run("train", "--preset", "nosuch", "--steps", "1"), "nosuch");
        AssertUsageError(CliProcess.Run("logits", "--request", "/no/such/request.json", "--out", "x.json"), "/no/such/request.json");
        AssertUsageError(CliProcess.Run("tokenize", "--tokenizer", "/no/such/tokenizer"), "/no/such/tokenizer");
    }

    [Fact]
    public void Generate_rejects_bad_prompts_and_sampling_settings()
    {
        AssertUsageError(CliProcess.Run("generate", "--model", Tiny, "--prompt-ids", "1,2,99999"), "99999", "vocabulary");
        AssertUsageError(CliProcess.Run("generate", "--model", Tiny, "--prompt-ids", "1,x"), "--prompt-ids");
        AssertUsageError(CliProcess.Run("generate", "--model", Tiny, "--prompt", "hello"), "tokenizer");
        AssertUsageError(CliProcess.Run("generate", "--model", Tiny, "--prompt-ids", "1", "--temperature", "-1"), "--temperature");
        AssertUsageError(CliProcess.Run("generate", "--model", Tiny, "--prompt-ids", "1", "--top-p", "2"), "--top-p");
        AssertUsageError(CliProcess.Run("generate", "--model", Tiny, "--prompt-ids", "1", "--max-tokens", "-1"), "--max-tokens");
    }

    [Fact]
    public void Bench_decode_and_attention_reject_empty_runs()
    {
        // --steps 0 had crashed with an unhandled exception (exit 134), --batch 0 named an internal cache argument
        AssertUsageError(CliProcess.Run("bench", "decode", "--preset", "tiny", "--steps", "0"), "--steps");
        AssertUsageError(CliProcess.Run("bench", "decode", "--preset", "tiny", "--batch", "0"), "--batch");
        AssertUsageError(CliProcess.Run("bench", "attention", "--preset", "tiny", "--context", "0"), "--context");
    }

    [Fact]
    public void Plan_rejects_impossible_clusters()
    {
        AssertUsageError(CliProcess.Run("plan", "--gpus", "0"), "--gpus");
        AssertUsageError(CliProcess.Run("plan", "--tokens", "abc"), "--tokens");
    }
}
