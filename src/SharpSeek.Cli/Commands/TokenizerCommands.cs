using System.CommandLine;
using System.Diagnostics;
using System.Text;
using SharpSeek.Tokenizers;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek tokenize</c>, <c>sharpseek tokenizer train</c> and <c>sharpseek bench tokenizer</c>.</summary>
public static class TokenizerCommands
{
    private static Option<string> TokenizerOption() => new("--tokenizer")
    {
        Description = "Directory with tokenizer.json (and tokenizer_config.json), or a tokenizer.json path.",
        Required = true,
    };

    /// <summary><c>sharpseek tokenize</c>: stdin lines -> JSON id arrays (or back with --decode).</summary>
    public static Command CreateTokenize()
    {
        var cmd = new Command("tokenize",
            "Encode stdin lines to one JSON array of token ids per line, or (--decode) JSON arrays back to text. " +
            "Lines end at \\n (a \\r before it is dropped); invalid UTF-8 becomes U+FFFD; unknown ids on decode are an error.");
        var tokenizer = TokenizerOption();
        var decode = new Option<bool>("--decode") { Description = "Read JSON arrays of ids, write the decoded text of each." };
        var addSpecial = new Option<bool>("--add-special-tokens")
        {
            Description = "Add the tokenizer's special tokens around each line (DeepSeek-V3: BOS). Default: none added.",
        };
        var skipSpecial = new Option<bool>("--skip-special-tokens") { Description = "With --decode: leave special tokens out." };
        cmd.Options.Add(tokenizer);
        cmd.Options.Add(decode);
        cmd.Options.Add(addSpecial);
        cmd.Options.Add(skipSpecial);
        cmd.SetAction(parse =>
        {
            Tokenizer tok = Tokenizer.Load(parse.GetValue(tokenizer)!);
            using Stream stdin = Console.OpenStandardInput();
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
            if (parse.GetValue(decode)) TokenStreams.DecodeLines(tok, stdin, stdout, parse.GetValue(skipSpecial));
            else TokenStreams.EncodeLines(tok, stdin, stdout, parse.GetValue(addSpecial));
            return 0;
        });
        return cmd;
    }

    /// <summary><c>sharpseek tokenizer train</c>.</summary>
    public static Command CreateTokenizer()
    {
        var group = new Command("tokenizer", "Train byte-level BPE tokenizers.");
        var train = new Command("train", "Train a byte-level BPE tokenizer (GPT-style pre-tokenizer) and write tokenizer.json + tokenizer_config.json.");
        var data = new Option<string[]>("--data") { Description = "UTF-8 text files to train on.", Required = true, AllowMultipleArgumentsPerToken = true };
        var vocabSize = new Option<int>("--vocab-size") { Description = "Vocabulary size including the 256 bytes and the special tokens.", DefaultValueFactory = _ => 8192 };
        var outDir = new Option<string>("--out") { Description = "Output directory (created if missing).", Required = true };
        var specials = new Option<string[]>("--special-tokens")
        {
            Description = "Special tokens, given ids 0, 1, …; the first is BOS, the second EOS.",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => BpeTrainerOptions.DeepSeekSpecialTokens,
        };
        var minFrequency = new Option<int>("--min-frequency") { Description = "Stop when the best pair occurs fewer times.", DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        foreach (Option o in new Option[] { data, vocabSize, outDir, specials, minFrequency, json }) train.Options.Add(o);
        train.SetAction(parse =>
        {
            var options = new BpeTrainerOptions
            {
                VocabSize = parse.GetValue(vocabSize),
                SpecialTokens = parse.GetValue(specials)!,
                MinFrequency = parse.GetValue(minFrequency),
            };
            var sw = Stopwatch.StartNew();
            BpeTrainingResult result = BpeTrainer.TrainFiles(parse.GetValue(data)!, options);
            double seconds = sw.Elapsed.TotalSeconds;
            string dir = parse.GetValue(outDir)!;
            result.Save(dir);
            var report = new
            {
                out_dir = Path.GetFullPath(dir),
                vocab_size = result.VocabSize,
                merges = result.Merges.Count,
                unique_words = result.UniqueWords,
                training_bytes = result.TrainingBytes,
                seconds,
            };
            if (parse.GetValue(json)) CliRunner.WriteJson(report);
            else Console.WriteLine($"wrote {report.out_dir}: vocab {report.vocab_size} ({report.merges} merges) from " +
                $"{report.training_bytes:N0} bytes / {report.unique_words:N0} unique words in {seconds:F1} s");
            return 0;
        });
        group.Subcommands.Add(train);
        return group;
    }

    /// <summary><c>sharpseek bench tokenizer</c>: encode and decode throughput, one thread and all threads.</summary>
    public static Command CreateBench()
    {
        var cmd = new Command("tokenizer", "Encode and decode MB/s on a corpus file, on 1 thread and on all threads.");
        var tokenizer = TokenizerOption();
        var data = new Option<string>("--data")
        {
            Description = "UTF-8 text file (one document per line).",
            DefaultValueFactory = _ => "/work/shared/data/corpus/nlp-corpus.txt",
        };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        cmd.Options.Add(tokenizer);
        cmd.Options.Add(data);
        cmd.Options.Add(json);
        cmd.SetAction(parse =>
        {
            string path = parse.GetValue(data)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"Benchmark corpus '{path}' not found; pass --data FILE.", path);
            var sw = Stopwatch.StartNew();
            Tokenizer tok = Tokenizer.Load(parse.GetValue(tokenizer)!);
            double loadSeconds = sw.Elapsed.TotalSeconds;
            TokenizerBenchmark.Result r = TokenizerBenchmark.Run(tok, File.ReadAllLines(path));
            if (parse.GetValue(json)) CliRunner.WriteJson(new { data = path, load_seconds = loadSeconds, result = r });
            else
            {
                Console.WriteLine($"{path}: {r.Megabytes:F2} MB, {r.Tokens:N0} tokens ({r.BytesPerToken:F2} bytes/token), load {loadSeconds:F2} s");
                Console.WriteLine($"encode  1 thread {r.EncodeMbpsSingleThread:F1} MB/s ({r.EncodeMbpsSingleThreadCpu:F1} per CPU-second)   " +
                    $"{r.Threads} threads {r.EncodeMbpsAllThreads:F1} MB/s   (cold cache, 1 thread {r.EncodeMbpsColdCache:F1} MB/s)");
                Console.WriteLine($"decode  1 thread {r.DecodeMbpsSingleThread:F1} MB/s ({r.DecodeMbpsSingleThreadCpu:F1} per CPU-second)   {r.Threads} threads {r.DecodeMbpsAllThreads:F1} MB/s");
            }
            return 0;
        });
        return cmd;
    }
}
