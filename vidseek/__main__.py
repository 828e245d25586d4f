from vidseek.cli import main

raise SystemExit(main())
