import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { principal } from '../../common/shop';

/** Bearer-token guard: the Nest way to secure a controller or a handler. */
@Injectable()
export class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest();
    const who = principal(req.headers['authorization']);
    if (!who) throw new UnauthorizedException('a valid bearer token is required');
    req.user = who;
    return true;
  }
}
