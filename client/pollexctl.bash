# SPDX-License-Identifier: ISC
# bash completion for pollexctl(1)                          -*- shell-script -*-
# Subcommands, their options, states, and the names of the pollers and
# the ids of the tasks the daemon knows (asked with "pollexctl pollers"
# and "pollexctl list", bounded by --io-timeout so a stuck daemon never
# hangs the shell).

# The global options given so far (-S SOCKET), to ask the same daemon.
_pollexctl_global()
{
	local i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-S | --socket) echo "-S ${words[i + 1]}" ;;
		--socket=*) echo "-S ${words[i]#--socket=}" ;;
		esac
	done
}

_pollexctl_pollers()
{
	# shellcheck disable=SC2046
	"${words[0]}" $(_pollexctl_global) --io-timeout 2s pollers 2>/dev/null |
		awk 'NR > 1 { print $1 }'
}

_pollexctl_ids()
{
	# shellcheck disable=SC2046
	"${words[0]}" $(_pollexctl_global) --io-timeout 2s list --limit 1000 \
		"$@" 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_pollexctl()
{
	local cur prev words cword cmd i
	_init_completion || return

	local commands="submit cancel poll get wait list watch pollers stats call"
	local states="starting pending succeeded failed cancelled expired"

	# The command is the first word that is neither an option nor an
	# option's argument.
	cmd=
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-S | --socket | -t | --io-timeout) ((i++)) ;;
		-*) ;;
		*)
			cmd=${words[i]}
			break
			;;
		esac
	done

	case $prev in
	-S | --socket | --file)
		_filedir
		return
		;;
	-t | --io-timeout | --timeout | --wait-timeout)
		COMPREPLY=($(compgen -W "250ms 1s 5s 30s 1m 5m 1h" -- "$cur"))
		return
		;;
	--state)
		COMPREPLY=($(compgen -W "$states" -- "$cur"))
		return
		;;
	--poller)
		COMPREPLY=($(compgen -W "$(_pollexctl_pollers)" -- "$cur"))
		return
		;;
	--args | --label | --key | --deadline | --owner | --limit | --after)
		return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-S --socket -j --json -t --io-timeout
			    -h --help -V --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	case $cmd in
	submit)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--args --label --timeout --deadline
			    --key --wait --wait-timeout --file --help" -- "$cur"))
		else
			# The poller is the first argument after "submit".
			local n=0
			for ((i = i + 1; i < cword; i++)); do
				[[ ${words[i]} != -* ]] && n=$((n + 1))
			done
			((n == 0)) &&
				COMPREPLY=($(compgen -W "$(_pollexctl_pollers)" -- "$cur"))
		fi
		;;
	poll)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help" -- "$cur"))
		else
			# The poller first, then its pending tasks.
			local n=0 poller=
			for ((i = i + 1; i < cword; i++)); do
				if [[ ${words[i]} != -* ]]; then
					n=$((n + 1))
					((n == 1)) && poller=${words[i]}
				fi
			done
			if ((n == 0)); then
				COMPREPLY=($(compgen -W "$(_pollexctl_pollers)" -- "$cur"))
			else
				COMPREPLY=($(compgen -W "$(_pollexctl_ids --state pending \
				    --poller "$poller")" -- "$cur"))
			fi
		fi
		;;
	cancel | get)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_pollexctl_ids)" -- "$cur"))
		fi
		;;
	wait)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--all --any --first-exception
			    --timeout --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_pollexctl_ids --state starting \
			    --state pending)" -- "$cur"))
		fi
		;;
	list)
		COMPREPLY=($(compgen -W "--state --poller --label --owner --limit
		    --after --all --help" -- "$cur"))
		;;
	watch)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--poller --label --initial --help" \
			    -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_pollexctl_ids)" -- "$cur"))
		fi
		;;
	call)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--more --oneway --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "io.pollex.Submit io.pollex.Cancel
			    io.pollex.Wait io.pollex.Get io.pollex.List
			    io.pollex.Watch io.pollex.Poll io.pollex.Pollers
			    io.pollex.Stats
			    org.varlink.service.GetInfo
			    org.varlink.service.GetInterfaceDescription" -- "$cur"))
		fi
		;;
	esac
} &&
	complete -F _pollexctl pollexctl
